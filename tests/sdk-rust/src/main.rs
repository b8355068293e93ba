//! Drives a running node with the AWS SDK for Rust (`aws-sdk-s3`), as an application would: its
//! default request checksums, pagination, multipart, copies, tags, versions and typed errors.
//! Usage: `sdk-check ENDPOINT ACCESS_KEY SECRET_KEY BUCKET`; exits non-zero on the first
//! check that fails, naming it.

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketVersioningStatus, ChecksumMode, CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier, Tag, Tagging,
    VersioningConfiguration,
};

type Outcome<T = ()> = Result<T, Box<dyn std::error::Error>>;

const MIB: usize = 1 << 20;

fn pattern(length: usize, seed: u8) -> Vec<u8> {
    (0..length).map(|index| (index as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

fn check(condition: bool, what: &str) -> Outcome {
    if condition { Ok(()) } else { Err(format!("check failed: {what}").into()) }
}

fn step(name: &str) {
    println!("== {name}");
}

async fn read_all(s3: &Client, bucket: &str, key: &str) -> Outcome<Vec<u8>> {
    let object = s3.get_object().bucket(bucket).key(key).send().await?;
    Ok(object.body.collect().await?.into_bytes().to_vec())
}

async fn run(s3: &Client, bucket: &str) -> Outcome {
    step("create bucket");
    s3.create_bucket().bucket(bucket).send().await?;

    step("put with the SDK's default checksum, get, ranged get, head");
    let body = pattern(3 * MIB + 17, 1);
    let put = s3
        .put_object()
        .bucket(bucket)
        .key("dir/object.bin")
        .content_type("application/x-test")
        .metadata("origin", "rust-sdk")
        .body(ByteStream::from(body.clone()))
        .send()
        .await?;
    check(put.e_tag().is_some(), "PUT returns an ETag")?;
    check(read_all(s3, bucket, "dir/object.bin").await? == body, "GET returns the bytes put")?;
    let ranged = s3.get_object().bucket(bucket).key("dir/object.bin").range("bytes=1048570-1048589").send().await?;
    check(ranged.body.collect().await?.into_bytes().as_ref() == &body[1_048_570..1_048_590], "a ranged GET returns its range")?;
    let head = s3.head_object().bucket(bucket).key("dir/object.bin").checksum_mode(ChecksumMode::Enabled).send().await?;
    check(head.content_length() == Some(body.len() as i64), "HEAD gives the length")?;
    check(head.content_type() == Some("application/x-test"), "HEAD gives the content type")?;
    check(head.metadata().and_then(|metadata| metadata.get("origin")).map(String::as_str) == Some("rust-sdk"), "user metadata round-trips")?;
    check(head.checksum_crc32().is_some(), "the SDK's CRC32 was stored and comes back with checksum mode")?;

    step("list with pagination");
    for index in 0..5 {
        s3.put_object().bucket(bucket).key(format!("list/key-{index}")).body(ByteStream::from(vec![b'x'; index])).send().await?;
    }
    let mut pages = s3.list_objects_v2().bucket(bucket).prefix("list/").max_keys(2).into_paginator().send();
    let mut listed = Vec::new();
    while let Some(page) = pages.next().await {
        listed.extend(page?.contents().iter().filter_map(|object| object.key().map(str::to_owned)));
    }
    check(listed == (0..5).map(|index| format!("list/key-{index}")).collect::<Vec<_>>(), "pagination lists every key once, in order")?;

    step("multipart upload with part checksums");
    let upload = s3.create_multipart_upload().bucket(bucket).key("multi").send().await?;
    let upload_id = upload.upload_id().ok_or("no upload id")?.to_owned();
    let parts = [pattern(5 * MIB, 2), pattern(1234, 3)];
    let mut completed = Vec::new();
    for (index, part) in parts.iter().enumerate() {
        let number = index as i32 + 1;
        let uploaded = s3
            .upload_part()
            .bucket(bucket)
            .key("multi")
            .upload_id(&upload_id)
            .part_number(number)
            .body(ByteStream::from(part.clone()))
            .send()
            .await?;
        let mut completed_part = CompletedPart::builder().part_number(number).set_e_tag(uploaded.e_tag().map(str::to_owned));
        if let Some(crc32) = uploaded.checksum_crc32() {
            completed_part = completed_part.checksum_crc32(crc32);
        }
        completed.push(completed_part.build());
    }
    let done = s3
        .complete_multipart_upload()
        .bucket(bucket)
        .key("multi")
        .upload_id(&upload_id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(completed)).build())
        .send()
        .await?;
    check(done.e_tag().is_some_and(|etag| etag.trim_matches('"').ends_with("-2")), "the multipart ETag is md5-of-md5s-2")?;
    check(read_all(s3, bucket, "multi").await? == parts.concat(), "the multipart object reads back whole")?;

    step("copy, tags");
    s3.copy_object().bucket(bucket).key("copy").copy_source(format!("{bucket}/dir/object.bin")).send().await?;
    check(read_all(s3, bucket, "copy").await? == body, "the copy has the source's bytes")?;
    let tags = Tagging::builder().tag_set(Tag::builder().key("team").value("storage").build()?).build()?;
    s3.put_object_tagging().bucket(bucket).key("copy").tagging(tags).send().await?;
    let read_tags = s3.get_object_tagging().bucket(bucket).key("copy").send().await?;
    check(read_tags.tag_set().iter().any(|tag| tag.key() == "team" && tag.value() == "storage"), "tags round-trip")?;

    step("versioning");
    let enabled = VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build();
    s3.put_bucket_versioning().bucket(bucket).versioning_configuration(enabled).send().await?;
    let first = s3.put_object().bucket(bucket).key("versioned").body(ByteStream::from_static(b"one")).send().await?;
    s3.put_object().bucket(bucket).key("versioned").body(ByteStream::from_static(b"two")).send().await?;
    let first_id = first.version_id().ok_or("a versioned PUT returns a version id")?.to_owned();
    let old = s3.get_object().bucket(bucket).key("versioned").version_id(&first_id).send().await?;
    check(old.body.collect().await?.into_bytes().as_ref() == b"one", "GET by version id reads that version")?;
    let versions = s3.list_object_versions().bucket(bucket).prefix("versioned").send().await?;
    check(versions.versions().len() == 2, "ListObjectVersions shows both versions")?;

    step("typed errors and batch delete");
    let missing = s3.get_object().bucket(bucket).key("no-such-key").send().await;
    check(missing.is_err_and(|error| error.into_service_error().is_no_such_key()), "a missing key is NoSuchKey")?;
    let identifiers = ["copy", "multi", "dir/object.bin"].iter().map(|key| ObjectIdentifier::builder().key(*key).build()).collect::<Result<Vec<_>, _>>()?;
    let deleted = s3.delete_objects().bucket(bucket).delete(Delete::builder().set_objects(Some(identifiers)).build()?).send().await?;
    check(deleted.deleted().len() == 3 && deleted.errors().is_empty(), "DeleteObjects deletes the three keys")?;
    Ok(())
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, endpoint, access_key, secret_key, bucket] = args.as_slice() else {
        eprintln!("usage: sdk-check ENDPOINT ACCESS_KEY SECRET_KEY BUCKET");
        std::process::exit(2);
    };
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(access_key, secret_key, None, None, "tessera-test"))
        .force_path_style(true)
        .build();
    let s3 = Client::from_conf(config);
    if let Err(error) = run(&s3, bucket).await {
        eprintln!("FAILED: {error:?}");
        std::process::exit(1);
    }
    println!("all checks passed");
}
