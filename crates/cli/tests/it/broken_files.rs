//! A corpus of broken Parquet files: each gives an error naming the file, never a panic, and the
//! rest of the lake stays usable.

use std::path::Path;

use crate::common::{run_in, write_parquet};

fn good_bytes(dir: &Path) -> Vec<u8> {
    let p = dir.join("scratch/good.parquet");
    write_parquet(&p, &[1, 2, 3], false, None);
    std::fs::read(p).unwrap()
}

/// (name, bytes, words the error must contain)
fn corpus(dir: &Path) -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let good = good_bytes(dir);
    let n = good.len();
    let mut huge_footer = good.clone();
    huge_footer[n - 8..n - 4].copy_from_slice(&0x7fff_fff0u32.to_le_bytes());
    let mut off_by_some = good.clone();
    let meta_len = u32::from_le_bytes(good[n - 8..n - 4].try_into().unwrap()) as usize;
    off_by_some[n - 8..n - 4].copy_from_slice(&((n - 8) as u32).to_le_bytes());
    let mut corrupt_meta = good.clone();
    for b in &mut corrupt_meta[n - 8 - meta_len..n - 8] {
        *b = 0xff;
    }
    vec![
        ("zero", Vec::new(), "empty (zero bytes)"),
        ("tiny", b"PAR1".to_vec(), "truncated"),
        ("truncated", good[..n / 2].to_vec(), "magic"),
        (
            "not_parquet",
            b"this is a csv file, not parquet\n1,2,3\n".to_vec(),
            "magic",
        ),
        ("huge_footer", huge_footer, "claims"),
        ("footer_past_start", off_by_some, "claims"),
        ("corrupt_metadata", corrupt_meta, "corrupt"),
    ]
}

#[test]
fn broken_files_are_reported_by_name_and_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    write_parquet(&lake.join("good/part-0.parquet"), &[1, 2, 3], false, None);
    let cases = corpus(dir.path());
    for (name, bytes, _) in &cases {
        write_parquet(&lake.join(format!("{name}/part-0.parquet")), &[10], false, None);
        std::fs::write(lake.join(format!("{name}/part-1.parquet")), bytes).unwrap();
    }
    let lake_s = lake.to_str().unwrap();
    let tables = run_in(
        dir.path(),
        &["--lake", lake_s, "tables", "--format", "csv"],
        &[],
        None,
    );
    tables.ok();
    for (name, _, why) in &cases {
        let line = tables
            .stdout
            .lines()
            .find(|l| l.starts_with(&format!("{name},")))
            .expect("listed");
        assert!(
            line.contains("part-1.parquet") && line.contains(why),
            "{name}: {line}"
        );
        let r = run_in(
            dir.path(),
            &[
                "--lake",
                lake_s,
                "sql",
                "-c",
                &format!("SELECT count(*) FROM {name}"),
            ],
            &[],
            None,
        );
        r.fails_with(
            1,
            &[
                &format!("{name}/part-1.parquet"),
                why,
                "remove or replace the file",
            ],
        );
        assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
        // Reading the file directly goes through DataFusion's own reader: an error, not a crash.
        let direct = lake.join(format!("{name}/part-1.parquet"));
        let r = run_in(
            dir.path(),
            &[
                "--lake",
                lake_s,
                "sql",
                "-c",
                &format!("SELECT * FROM '{}'", direct.display()),
            ],
            &[],
            None,
        );
        assert_eq!(r.code, 1, "{name}: {}", r.stderr);
        assert!(!r.stderr.contains("panicked"), "{name}: {}", r.stderr);
    }
    let ok = run_in(
        dir.path(),
        &[
            "--lake",
            lake_s,
            "sql",
            "--format",
            "csv",
            "-c",
            "SELECT sum(id) AS s FROM good",
        ],
        &[],
        None,
    );
    assert_eq!(ok.stdout, "s\n6\n");
}

#[test]
fn schemas_merge_compatibly_and_conflicts_name_both_files() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    write_parquet(&lake.join("merged/a.parquet"), &[1, 2], true, None);
    write_parquet(&lake.join("merged/b.parquet"), &[3, 4], false, Some("note"));
    write_parquet(&lake.join("conflict/a.parquet"), &[1], false, None);
    // Same column name, different kind of type.
    {
        use std::sync::Arc;
        let schema = Arc::new(arrow::datatypes::Schema::new(vec![arrow::datatypes::Field::new(
            "id",
            arrow::datatypes::DataType::Utf8,
            false,
        )]));
        let batch = arrow::record_batch::RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(arrow::array::StringArray::from(vec!["x"]))],
        )
        .unwrap();
        let f = std::fs::File::create(lake.join("conflict/b.parquet")).unwrap();
        let mut w = parquet::arrow::ArrowWriter::try_new(f, schema, None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
    }
    let lake_s = lake.to_str().unwrap();
    let r = run_in(
        dir.path(),
        &[
            "--lake",
            lake_s,
            "sql",
            "--format",
            "csv",
            "-c",
            "SELECT arrow_typeof(id) AS t, sum(id) AS s, count(note) AS n FROM merged GROUP BY 1",
        ],
        &[],
        None,
    );
    r.ok();
    assert_eq!(r.stdout, "t,s,n\nInt64,10,2\n");
    let r = run_in(
        dir.path(),
        &["--lake", lake_s, "sql", "-c", "SELECT * FROM conflict"],
        &[],
        None,
    );
    r.fails_with(1, &["conflict/a.parquet", "conflict/b.parquet", "'id'"]);
}
