"""ListObjectsV2: order, prefixes, delimiters, pagination past 1000 keys."""

from concurrent.futures import ThreadPoolExecutor

import pytest

KEY_COUNT = 1100


@pytest.fixture(scope="module")
def many_keys(server):
    s3 = server.client(max_pool_connections=16)
    bucket = "listing-many"
    s3.create_bucket(Bucket=bucket)
    keys = [f"dir{index % 3}/sub{index % 7}/key-{index:05d}" for index in range(KEY_COUNT - 5)]
    keys += ["top-a", "top-b", "dir0", "dir0-x", "z/"]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda key: s3.put_object(Bucket=bucket, Key=key, Body=key.encode()), keys))
    return bucket, sorted(keys, key=lambda key: key.encode())


def all_pages(s3, **kwargs):
    pages = list(s3.get_paginator("list_objects_v2").paginate(**kwargs))
    keys = [item["Key"] for page in pages for item in page.get("Contents", [])]
    prefixes = [item["Prefix"] for page in pages for item in page.get("CommonPrefixes", [])]
    return pages, keys, prefixes


def test_flat_listing_pages_past_1000_keys(s3, many_keys):
    bucket, keys = many_keys
    pages, listed, prefixes = all_pages(s3, Bucket=bucket)
    assert listed == keys
    assert prefixes == []
    assert len(pages) == 2 and len(pages[0]["Contents"]) == 1000 and pages[0]["IsTruncated"]
    assert pages[0]["KeyCount"] == 1000


def test_small_pages_cover_everything_once(s3, many_keys):
    bucket, keys = many_keys
    _, listed, _ = all_pages(s3, Bucket=bucket, Prefix="dir1/", PaginationConfig={"PageSize": 37})
    assert listed == [key for key in keys if key.startswith("dir1/")]


def test_delimiter_rolls_up_common_prefixes(s3, many_keys):
    bucket, keys = many_keys
    _, listed, prefixes = all_pages(s3, Bucket=bucket, Delimiter="/")
    assert listed == ["dir0", "dir0-x", "top-a", "top-b"]
    assert prefixes == ["dir0/", "dir1/", "dir2/", "z/"]
    _, listed, prefixes = all_pages(s3, Bucket=bucket, Delimiter="/", Prefix="dir2/")
    assert listed == []
    assert prefixes == [f"dir2/sub{index}/" for index in range(7)]
    _, listed, prefixes = all_pages(s3, Bucket=bucket, Delimiter="/", Prefix="dir2/sub3/")
    assert listed == [key for key in keys if key.startswith("dir2/sub3/")]
    assert prefixes == []


def test_delimiter_with_paging_returns_each_prefix_once(s3, many_keys):
    bucket, _ = many_keys
    _, listed, prefixes = all_pages(s3, Bucket=bucket, Delimiter="/", PaginationConfig={"PageSize": 2})
    assert listed == ["dir0", "dir0-x", "top-a", "top-b"]
    assert prefixes == ["dir0/", "dir1/", "dir2/", "z/"]


def test_partial_prefix_and_start_after(s3, many_keys):
    bucket, keys = many_keys
    _, listed, _ = all_pages(s3, Bucket=bucket, Prefix="dir0/sub1/key-0")
    assert listed == [key for key in keys if key.startswith("dir0/sub1/key-0")]
    start = keys[500]
    _, listed, _ = all_pages(s3, Bucket=bucket, StartAfter=start)
    assert listed == keys[501:]
    page = s3.list_objects_v2(Bucket=bucket, MaxKeys=5)
    assert [item["Key"] for item in page["Contents"]] == keys[:5]
    assert page["IsTruncated"] and page["MaxKeys"] == 5


def test_listing_reports_sizes_and_etags(s3, bucket):
    s3.put_object(Bucket=bucket, Key="sized", Body=b"x" * 1234)
    item = s3.list_objects_v2(Bucket=bucket)["Contents"][0]
    assert item["Key"] == "sized" and item["Size"] == 1234
    assert item["ETag"] == s3.head_object(Bucket=bucket, Key="sized")["ETag"]


def test_url_encoded_listing_round_trips_odd_keys(s3, bucket):
    odd = ["a b", "plus+sign", "percent%41", "ünïcødé", "q?x=1&y"]
    for key in odd:
        s3.put_object(Bucket=bucket, Key=key, Body=b"1")
    # boto3 asks for encoding-type=url and decodes the answer.
    listed = [item["Key"] for item in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert listed == sorted(odd, key=lambda key: key.encode())
