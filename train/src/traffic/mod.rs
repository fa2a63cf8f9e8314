//! The closed loop's offline side: the gateway's logs ([`log`]) turned into training rows
//! ([`ingest`], `train ingest`) and into off-policy estimates of another router's value on
//! the logged traffic ([`replay`], `train eval --replay`).

pub mod ingest;
pub mod log;
pub mod replay;

#[cfg(test)]
mod fixtures;
