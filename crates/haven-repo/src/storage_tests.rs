use super::*;

#[tokio::test]
async fn read_into_reads_whole_local_objects() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(dir.path().to_str().unwrap()).unwrap();
    let large: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    storage.write("data/large", large.clone()).await.unwrap();
    storage.write("data/small", vec![7u8; 5_000]).await.unwrap();

    let (buffer, range) = storage
        .read_into("data/large", Vec::new())
        .await
        .unwrap()
        .unwrap();
    assert!(
        buffer[range] == large[..],
        "the large object's bytes differ"
    );
    let capacity = buffer.capacity();

    // The smaller object reuses the buffer without growing it, and none of the large
    // object's bytes show up in its range.
    let (buffer, range) = storage
        .read_into("data/small", buffer)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buffer[range], &[7u8; 5_000][..]);
    assert_eq!(buffer.capacity(), capacity);

    assert!(storage
        .read_into("data/missing", buffer)
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn read_into_rejects_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(dir.path().to_str().unwrap()).unwrap();
    std::fs::create_dir_all(dir.path().join("data/folder")).unwrap();
    let error = storage
        .read_into("data/folder", Vec::new())
        .await
        .unwrap_err();
    assert!(error.to_string().contains("not a regular file"), "{error}");
}
