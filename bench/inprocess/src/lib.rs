//! Criterion benchmarks of Gatehouse's hot paths without the network: see
//! `benches/hot_path.rs`. `cargo bench -p gatehouse-inprocess-bench`.
