//! The similarity benchmark's workload, small, in the suite: synthetic
//! reports recorded into a database file, then rewordings of some of them
//! looked up. Checks what the benchmark measures is right (each rewording's
//! original comes first, the index lives in the database); the timings are
//! the benchmark's (`cargo bench --bench similar`, bench/README.md).

#[path = "../../benches/common/similar.rs"]
#[allow(dead_code)]
mod workload;

#[test]
fn rewordings_find_their_original_among_many_reports() {
    let dir = tempfile::tempdir().unwrap();
    let run = workload::run(dir.path(), 400, 40);
    assert_eq!(run.found_first, 40, "every rewording's original first");
    assert!(run.db_bytes > 0);
}
