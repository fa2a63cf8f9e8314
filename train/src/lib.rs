//! Training the router: burn network, training loop, ONNX export.
//!
//! - [`model`]: the burn network (embedding bag → MLP → quality and task heads).
//! - [`onnx`]: the ONNX graph of that network and the artifact directory writer.
pub mod model;
pub mod onnx;
