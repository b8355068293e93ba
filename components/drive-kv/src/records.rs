//! The values of `file:` and `dir:` keys, in a small binary form with a magic byte and a version,
//! so that a value that is not ours reads as corrupt instead of as something else.

use std::collections::BTreeMap;

const FILE_MAGIC: u8 = b'F';
const DIR_MAGIC: u8 = b'D';
const VERSION: u8 = 1;
const INLINE: u8 = 0;
const CHUNKED: u8 = 1;

/// Where a file's bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileData {
    /// In the record itself (small files: metadata, small parts).
    Inline(Vec<u8>),
    /// In `chunk:<blob>:<n>` keys of `chunk_bytes` each (the last one shorter).
    Chunked { blob: String, chunk_bytes: u32 },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRecord {
    pub size: u64,
    pub modified_ms: u64,
    pub data: FileData,
}

/// A directory: its children by name (`true`: a directory) and when it was made.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirIndex {
    pub modified_ms: u64,
    pub entries: BTreeMap<String, bool>,
}

/// A value that does not decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorruptRecord;

impl FileRecord {
    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = vec![FILE_MAGIC, VERSION];
        bytes.push(if matches!(self.data, FileData::Inline(_)) { INLINE } else { CHUNKED });
        bytes.extend_from_slice(&self.modified_ms.to_le_bytes());
        bytes.extend_from_slice(&self.size.to_le_bytes());
        match &self.data {
            FileData::Inline(data) => bytes.extend_from_slice(data),
            FileData::Chunked { blob, chunk_bytes } => {
                bytes.extend_from_slice(&chunk_bytes.to_le_bytes());
                bytes.extend_from_slice(blob.as_bytes());
            }
        }
        bytes
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, CorruptRecord> {
        let [FILE_MAGIC, VERSION, kind, rest @ ..] = bytes else { return Err(CorruptRecord) };
        let (modified_ms, rest) = take_u64(rest)?;
        let (size, rest) = take_u64(rest)?;
        let data = match *kind {
            INLINE if rest.len() as u64 == size => FileData::Inline(rest.to_vec()),
            CHUNKED => {
                let (chunk_bytes, blob) = rest.split_first_chunk::<4>().ok_or(CorruptRecord)?;
                let chunk_bytes = u32::from_le_bytes(*chunk_bytes);
                let blob = String::from_utf8(blob.to_vec()).map_err(|_| CorruptRecord)?;
                if chunk_bytes == 0 || blob.is_empty() {
                    return Err(CorruptRecord);
                }
                FileData::Chunked { blob, chunk_bytes }
            }
            _ => return Err(CorruptRecord),
        };
        Ok(Self { size, modified_ms, data })
    }

    /// How many chunks hold the file's bytes (0 when inline).
    pub fn chunk_count(&self) -> u64 {
        match &self.data {
            FileData::Inline(_) => 0,
            FileData::Chunked { chunk_bytes, .. } => self.size.div_ceil(u64::from(*chunk_bytes)),
        }
    }
}

impl DirIndex {
    pub fn new(modified_ms: u64) -> Self {
        Self { modified_ms, entries: BTreeMap::new() }
    }

    /// Names cannot hold NUL (`checked_segments`), so NUL ends each one.
    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = vec![DIR_MAGIC, VERSION];
        bytes.extend_from_slice(&self.modified_ms.to_le_bytes());
        for (name, is_dir) in &self.entries {
            bytes.push(if *is_dir { b'd' } else { b'f' });
            bytes.extend_from_slice(name.as_bytes());
            bytes.push(0);
        }
        bytes
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, CorruptRecord> {
        let [DIR_MAGIC, VERSION, rest @ ..] = bytes else { return Err(CorruptRecord) };
        let (modified_ms, mut rest) = take_u64(rest)?;
        let mut entries = BTreeMap::new();
        while let [kind, tail @ ..] = rest {
            let end = tail.iter().position(|byte| *byte == 0).ok_or(CorruptRecord)?;
            let name = std::str::from_utf8(&tail[..end]).map_err(|_| CorruptRecord)?;
            let is_dir = match kind {
                b'd' => true,
                b'f' => false,
                _ => return Err(CorruptRecord),
            };
            entries.insert(name.to_owned(), is_dir);
            rest = &tail[end + 1..];
        }
        Ok(Self { modified_ms, entries })
    }
}

fn take_u64(bytes: &[u8]) -> Result<(u64, &[u8]), CorruptRecord> {
    let (head, rest) = bytes.split_first_chunk::<8>().ok_or(CorruptRecord)?;
    Ok((u64::from_le_bytes(*head), rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let inline = FileRecord { size: 3, modified_ms: 7, data: FileData::Inline(b"abc".to_vec()) };
        assert_eq!(FileRecord::decode(&inline.encode()), Ok(inline));
        let chunked = FileRecord { size: 1 << 20, modified_ms: 9, data: FileData::Chunked { blob: "b1".into(), chunk_bytes: 512 << 10 } };
        assert_eq!(chunked.chunk_count(), 2);
        assert_eq!(FileRecord::decode(&chunked.encode()), Ok(chunked));
        let mut index = DirIndex::new(5);
        index.entries.insert("a b\nc".into(), false);
        index.entries.insert("sub".into(), true);
        assert_eq!(DirIndex::decode(&index.encode()), Ok(index));
    }

    #[test]
    fn foreign_or_cut_values_are_corrupt() {
        let record = FileRecord { size: 3, modified_ms: 7, data: FileData::Inline(b"abc".to_vec()) }.encode();
        for cut in 0..record.len() {
            assert_eq!(FileRecord::decode(&record[..cut]), Err(CorruptRecord), "cut at {cut}");
        }
        assert_eq!(DirIndex::decode(&record), Err(CorruptRecord));
        assert_eq!(DirIndex::decode(b"D\x01\0\0\0\0\0\0\0\0fname-without-end"), Err(CorruptRecord));
    }
}
