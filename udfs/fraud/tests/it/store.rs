//! The model store: versions, round trips, races, corruption, drops.

use std::sync::Arc;

use nightshift_fraud::{FraudError, ModelRegistry, ModelStore};
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::common::*;

fn store() -> (Arc<InMemory>, ModelStore) {
    let mem = Arc::new(InMemory::new());
    let store = ModelStore::new(mem.clone() as Arc<dyn ObjectStore>, Path::from("lake/_models"));
    (mem, store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saves_versions_and_loads_them_back_identically() {
    let (mem, store) = store();
    let mut m1 = small_model("8", "1").await;
    m1.set_sql("CREATE MODEL m ...".into());
    let m2 = small_model("8", "2").await;
    assert!(!store.exists("m").await.unwrap());
    let s1 = store.save("m", m1.clone()).await.unwrap();
    let s2 = store.save("m", m2).await.unwrap();
    assert_eq!((s1.name(), s1.version()), ("m", 1));
    assert_eq!(s2.version(), 2);
    assert!(store.exists("m").await.unwrap());

    let probe = batches(2_000, 2_000, 11).remove(0);
    let latest = store.load("m", None).await.unwrap();
    assert_eq!(latest.version(), 2);
    assert_eq!(
        latest.score_batch(&features_of(&probe)).unwrap(),
        s2.score_batch(&features_of(&probe)).unwrap()
    );
    let v1 = store.load("m", Some(1)).await.unwrap();
    assert_eq!(v1.meta().sql.as_deref(), Some("CREATE MODEL m ..."));
    assert_eq!(v1.metrics(), m1.metrics());
    assert_eq!(v1.features()[1].categories, m1.features()[1].categories);
    assert_eq!(
        v1.score_batch(&features_of(&probe)).unwrap(),
        m1.score_batch(&features_of(&probe)).unwrap()
    );

    let infos = store.list().await.unwrap();
    let versions: Vec<_> = infos.iter().map(|i| (i.name.as_str(), i.version)).collect();
    assert_eq!(versions, vec![("m", 1), ("m", 2)]);
    assert_eq!(infos[0].training_rows, m1.meta().training_rows);
    assert_eq!(infos[0].auc_roc, m1.metrics().map(|m| m.auc_roc));

    // The artifact layout.
    let files: Vec<String> =
        futures::TryStreamExt::try_collect::<Vec<_>>(mem.list(Some(&Path::from("lake/_models/m/v1"))))
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.location.filename().unwrap().to_owned())
            .collect();
    assert!(files.contains(&"model.json".to_owned()), "{files:?}");
    assert!(
        files
            .iter()
            .any(|f| f.starts_with("trees-") && f.ends_with(".bin")),
        "{files:?}"
    );

    assert_eq!(store.drop_model("m").await.unwrap(), 2);
    assert!(!store.exists("m").await.unwrap());
    let err = store.load("m", None).await.unwrap_err().to_string();
    assert!(
        err.contains("model 'm' does not exist") && err.contains("CREATE MODEL m"),
        "{err}"
    );
    let err = store.load("other", Some(3)).await.unwrap_err().to_string();
    assert!(err.contains("'other@v3' does not exist"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_saves_take_different_versions() {
    let (_mem, store) = store();
    let m = small_model("4", "1").await;
    let (a, b, c) = tokio::join!(
        store.save("m", m.clone()),
        store.save("m", m.clone()),
        store.save("m", m.clone())
    );
    let mut v = vec![a.unwrap().version(), b.unwrap().version(), c.unwrap().version()];
    v.sort();
    assert_eq!(v, vec![1, 2, 3]);
    assert_eq!(store.list().await.unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_and_half_written_artifacts() {
    let (mem, store) = store();
    let m = small_model("4", "1").await;
    store.save("m", m.clone()).await.unwrap();

    // A version without its manifest (a writer that died) is invisible and does not block saving.
    mem.put(
        &Path::from("lake/_models/m/v2/trees-dead.bin"),
        PutPayload::from_static(b"partial"),
    )
    .await
    .unwrap();
    assert_eq!(store.load("m", None).await.unwrap().version(), 1);
    assert_eq!(store.list().await.unwrap().len(), 1);

    // Flip a byte of the trees file.
    let trees =
        futures::TryStreamExt::try_collect::<Vec<_>>(mem.list(Some(&Path::from("lake/_models/m/v1"))))
            .await
            .unwrap()
            .into_iter()
            .find(|o| o.location.filename().unwrap().starts_with("trees-"))
            .unwrap()
            .location;
    let mut bytes = mem.get(&trees).await.unwrap().bytes().await.unwrap().to_vec();
    let last = bytes.len() - 3;
    bytes[last] ^= 0x55;
    mem.put(&trees, PutPayload::from(bytes)).await.unwrap();
    let err = store.load("m", Some(1)).await.unwrap_err();
    assert!(matches!(err, FraudError::CorruptArtifact { .. }), "{err}");
    assert!(err.to_string().contains("checksum"), "{err}");

    // A manifest from a future format.
    let s = store.save("n", m.clone()).await.unwrap();
    let manifest = Path::from(format!("lake/_models/n/v{}/model.json", s.version()));
    let text = String::from_utf8(mem.get(&manifest).await.unwrap().bytes().await.unwrap().to_vec()).unwrap();
    let text = text.replace("\"format_version\": 1", "\"format_version\": 9");
    mem.put(&manifest, PutPayload::from(text.into_bytes()))
        .await
        .unwrap();
    let err = store.load("n", None).await.unwrap_err().to_string();
    assert!(
        err.contains("is corrupt or incompatible") && err.contains("format version 9"),
        "{err}"
    );

    // Garbage.
    mem.put(&manifest, PutPayload::from_static(b"{not json"))
        .await
        .unwrap();
    let err = store.load("n", None).await.unwrap_err().to_string();
    assert!(err.contains("unreadable manifest"), "{err}");

    // Bad names never touch the store.
    let err = store.save("../evil", m).await.unwrap_err().to_string();
    assert!(err.contains("invalid model reference"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_loads_once_and_pins_versions() {
    let (_mem, store) = store();
    store.save("m", small_model("4", "1").await).await.unwrap();
    store.save("m", small_model("4", "2").await).await.unwrap();
    let registry = ModelRegistry::new(Some(store.clone()), None);
    assert!(registry.get("m").is_none());
    let latest = registry.ensure_loaded("m").await.unwrap();
    assert_eq!(latest.version(), 2);
    let pinned = registry.ensure_loaded("m@v1").await.unwrap();
    assert_eq!(pinned.version(), 1);
    // Cached: the same Arc comes back.
    assert!(Arc::ptr_eq(&registry.get("m").unwrap(), &latest));
    assert!(Arc::ptr_eq(
        &registry.ensure_loaded("m@v1").await.unwrap(),
        &pinned
    ));
    registry.forget("m");
    assert!(registry.get("m").is_none() && registry.get("m@v1").is_none());
    let err = registry.ensure_loaded("ghost").await.unwrap_err().to_string();
    assert!(err.contains("model 'ghost' does not exist"), "{err}");
    let err = registry.ensure_loaded("m@x").await.unwrap_err().to_string();
    assert!(err.contains("invalid model reference 'm@x'"), "{err}");
}
