pub mod tiny_model;
