//! One module per published format. Each turns files into a [`crate::outcomes::SetBuilder`];
//! the documented per-format estimates (output tokens where a source has no answer text)
//! are public constants here.

pub mod alpaca;
pub mod arena;
pub mod generic;
pub mod mt_bench;
pub mod routellm_wide;
pub mod routerbench;
