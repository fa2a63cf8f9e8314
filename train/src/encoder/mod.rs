//! The pre-trained sentence encoder (all-MiniLM-L6-v2) whose knowledge the router's static
//! token table carries into the request path without its cost.
//!
//! - [`files`]: where its weights are (fetched at build time, `ARBITER_ENCODER_DIR` overrides).
//! - [`bert`]: its forward pass (BERT, 6 layers, mean pooling, unit length) on ndarray, for
//!   distillation and for the test that pins it against fixed sentences.
//! - [`distill`]: every vocabulary token through the encoder, PCA, frequency weighting:
//!   the table `models::semantic` reads (Model2Vec's recipe).

pub mod bert;
pub mod distill;
pub mod files;
