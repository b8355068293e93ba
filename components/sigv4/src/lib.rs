//! AWS Signature Version 4, header form, S3 service: what the host's clients (load generator,
//! admin) and the replication component sign their requests with.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The payload hash of a body that is not hashed (the bench: the client never limits speed;
/// replication: the body streams and is not known in advance).
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// SHA-256 of the empty body.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

pub struct Signer {
    pub access_key: String,
    pub secret_key: String,
    pub region: String,
}

/// What a signature covers.
pub struct Signable<'a> {
    pub method: &'a str,
    /// Already URI-encoded path, e.g. "/bucket/key%20one".
    pub path: &'a str,
    /// Query pairs, not encoded.
    pub query: &'a [(&'a str, &'a str)],
    pub host: &'a str,
    pub payload_sha256: &'a str,
    /// Further headers to sign (names lower-case; S3 wants every `x-amz-*` header signed).
    pub headers: &'a [(&'a str, &'a str)],
}

/// Headers to add to the request.
pub struct Signature {
    pub amz_date: String,
    pub authorization: String,
}

impl Signer {
    pub fn sign(&self, request: &Signable, now: std::time::SystemTime) -> Signature {
        let (amz_date, date) = amz_dates(now);
        let mut query: Vec<(String, String)> = request.query.iter().map(|(k, v)| (uri_encode(k, true), uri_encode(v, true))).collect();
        query.sort();
        let canonical_query = query.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&");
        let mut headers: Vec<(String, String)> = vec![
            ("host".into(), request.host.to_owned()),
            ("x-amz-content-sha256".into(), request.payload_sha256.to_owned()),
            ("x-amz-date".into(), amz_date.clone()),
        ];
        headers.extend(request.headers.iter().map(|(name, value)| (name.to_ascii_lowercase(), value.trim().to_owned())));
        headers.sort();
        let canonical_headers: String = headers.iter().map(|(name, value)| format!("{name}:{value}\n")).collect();
        let signed_headers = headers.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>().join(";");
        let canonical_request = format!(
            "{}\n{}\n{}\n{}\n{}\n{}",
            request.method, request.path, canonical_query, canonical_headers, signed_headers, request.payload_sha256
        );
        let scope = format!("{date}/{}/s3/aws4_request", self.region);
        let string_to_sign = format!("AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}", hex(&Sha256::digest(canonical_request.as_bytes())));
        let mut key = hmac(format!("AWS4{}", self.secret_key).as_bytes(), date.as_bytes());
        for part in [self.region.as_str(), "s3", "aws4_request"] {
            key = hmac(&key, part.as_bytes());
        }
        let signature = hex(&hmac(&key, string_to_sign.as_bytes()));
        let authorization =
            format!("AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}", self.access_key);
        Signature { amz_date, authorization }
    }
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Percent-encodes as SigV4 wants: unreserved characters stay, '/' stays in paths.
pub fn uri_encode(text: &str, encode_slash: bool) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') || (byte == b'/' && !encode_slash) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// `YYYYMMDDTHHMMSSZ` and `YYYYMMDD` in UTC.
fn amz_dates(now: std::time::SystemTime) -> (String, String) {
    let seconds = now.duration_since(std::time::UNIX_EPOCH).map(|elapsed| elapsed.as_secs()).unwrap_or(0);
    let (days, second_of_day) = (seconds / 86_400, seconds % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    let date = format!("{year:04}{month:02}{day:02}");
    let time = format!("{:02}{:02}{:02}", second_of_day / 3600, second_of_day / 60 % 60, second_of_day % 60);
    (format!("{date}T{time}Z"), date)
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The "GET Object" example of the S3 SigV4 documentation, with its Range header signed.
    #[test]
    fn signs_the_documented_example() {
        let signer = Signer {
            access_key: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            region: "us-east-1".into(),
        };
        let request = Signable {
            method: "GET",
            path: "/test.txt",
            query: &[],
            host: "examplebucket.s3.amazonaws.com",
            payload_sha256: EMPTY_SHA256,
            headers: &[("Range", "bytes=0-9")],
        };
        let signature = signer.sign(&request, std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_369_353_600));
        assert_eq!(signature.amz_date, "20130524T000000Z");
        assert_eq!(
            signature.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, \
             Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(20_781), (2026, 11, 24));
    }
}
