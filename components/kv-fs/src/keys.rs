//! Keys as file paths and back.

/// Longest hex segment: file names are bounded (255 bytes on most file systems).
const SEGMENT_HEX: usize = 200;
/// Ends the last segment, so a key's file never collides with a longer key's directory.
pub const VALUE_SUFFIX: &str = ".v";

/// The path of a key's file inside its store folder.
pub fn key_path(key: &str) -> String {
    let hex: String = key.bytes().map(|byte| format!("{byte:02x}")).collect();
    let segments: Vec<&str> = if hex.is_empty() {
        vec![""]
    } else {
        hex.as_bytes().chunks(SEGMENT_HEX).map(|chunk| std::str::from_utf8(chunk).expect("hex is ASCII")).collect()
    };
    format!("{}{VALUE_SUFFIX}", segments.join("/"))
}

/// The key a file path names, if it is one of ours.
pub fn path_key(path: &str) -> Option<String> {
    let hex: String = path.strip_suffix(VALUE_SUFFIX)?.split('/').collect();
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..hex.len()).step_by(2).map(|index| u8::from_str_radix(hex.get(index..index + 2)?, 16).ok()).collect();
    String::from_utf8(bytes?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_survive_the_trip_through_paths() {
        let long = "dir:bucket/".to_owned() + &"k".repeat(1500);
        for key in ["", "a", "file:b/k/.meta", "lock:~namespace", "ü\n\t", long.as_str()] {
            let path = key_path(key);
            assert!(path.split('/').all(|segment| !segment.is_empty() && segment.len() <= SEGMENT_HEX + 2), "{path}");
            assert_eq!(path_key(&path).as_deref(), Some(key));
        }
        assert_eq!(path_key(".tessera/tmp/x"), None);
        assert_eq!(path_key("zz.v"), None);
    }
}
