//! The guardrail detectors and what a run needs around them: keeps personal data and secrets out of what a batch job writes.
//! In text objects it finds e-mail addresses, phone numbers, payment card numbers (Luhn),
//! IBANs (mod-97) and AWS access key ids, and either
//! - redacts them (`mode=redact`, the default): each becomes `[REDACTED:<kind>]`, the rest of
//!   the text is kept byte for byte, the key is kept, and the counts per kind go in the user
//!   metadata `guardrail-redactions` (`email=2,card=1`, or `none`); or
//! - quarantines the object (`mode=quarantine`) if anything was found, naming the counts.
//!
//! Objects that are not UTF-8 text are skipped rather than mangled. The detectors are in
//! `detect`; this module holds what a run needs around them: parameters, buffering, outcome.

mod detect;

pub use detect::{Counts, Finding, Kind, count, find, redact};

/// The largest object scanned. A finding may straddle chunks, so the object is scanned whole.
pub const MAX_INPUT_BYTES: usize = 16 << 20;

/// The user metadata that reports what was redacted.
pub const REDACTIONS_METADATA: &str = "guardrail-redactions";
/// The user metadata naming the object an output was made from (as `to-markdown` sets it).
pub const SOURCE_KEY_METADATA: &str = "source-key";

/// What a run does with what it finds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Mode {
    #[default]
    Redact,
    Quarantine,
}

/// Why a run cannot go on.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum GuardrailError {
    /// More bytes than `MAX_INPUT_BYTES` arrived.
    #[error("over the {} MiB guardrail scans", MAX_INPUT_BYTES >> 20)]
    TooLarge,
    /// A job parameter guardrail does not take (a misspelt `mode` must not silently redact).
    #[error("unknown parameter {0:?}: guardrail takes `mode`")]
    UnknownParam(String),
    /// `mode` is neither `redact` nor `quarantine`.
    #[error("mode {0:?} is neither `redact` nor `quarantine`")]
    UnknownMode(String),
}

/// The mode a job's parameters ask for.
pub fn mode_from_params(params: &[(String, String)]) -> Result<Mode, GuardrailError> {
    let mut mode = Mode::default();
    for (name, value) in params {
        if name != "mode" {
            return Err(GuardrailError::UnknownParam(name.clone()));
        }
        mode = match value.as_str() {
            "redact" => Mode::Redact,
            "quarantine" => Mode::Quarantine,
            other => return Err(GuardrailError::UnknownMode(other.to_owned())),
        };
    }
    Ok(mode)
}

/// An object's bytes as they arrive, up to `MAX_INPUT_BYTES`.
#[derive(Debug, Default)]
pub struct Buffer {
    bytes: Vec<u8>,
}

impl Buffer {
    pub fn write(&mut self, chunk: &[u8]) -> Result<(), GuardrailError> {
        if self.bytes.len() + chunk.len() > MAX_INPUT_BYTES {
            return Err(GuardrailError::TooLarge);
        }
        self.bytes.extend_from_slice(chunk);
        Ok(())
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

/// What a run comes to.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Not text (why): left alone rather than mangled.
    NotText(&'static str),
    /// The text to write, with what was found redacted (possibly nothing), and the counts.
    Output { text: String, counts: Counts },
    /// Found something, and the job quarantines rather than redacts.
    Quarantine(Counts),
}

/// Scans a whole object.
pub fn check(bytes: Vec<u8>, mode: Mode) -> Outcome {
    // A NUL byte is valid UTF-8 but no text has one; binary formats often do.
    if bytes.contains(&0) {
        return Outcome::NotText("binary (has NUL bytes), not text");
    }
    let Ok(text) = String::from_utf8(bytes) else {
        return Outcome::NotText("not UTF-8 text");
    };
    match mode {
        Mode::Redact => {
            let (redacted, counts) = redact(&text);
            Outcome::Output { text: redacted, counts }
        }
        Mode::Quarantine => {
            let counts = count(&text);
            if counts.total() > 0 { Outcome::Quarantine(counts) } else { Outcome::Output { text, counts } }
        }
    }
}

/// The output's user metadata: the input's, with the counts and the source key set (replacing
/// any from an earlier run, so that guardrail can run twice).
pub fn output_metadata(input_metadata: &[(String, String)], source_key: &str, counts: &Counts) -> Vec<(String, String)> {
    let ours = [REDACTIONS_METADATA, SOURCE_KEY_METADATA];
    let mut metadata: Vec<(String, String)> = input_metadata.iter().filter(|(name, _)| !ours.contains(&name.as_str())).cloned().collect();
    metadata.push((REDACTIONS_METADATA.into(), counts.to_string()));
    metadata.push((SOURCE_KEY_METADATA.into(), source_key.into()));
    metadata
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCUMENT: &str = "Grüße! Contact ann@example.com or +1 (555) 123-4567; card 4111-1111-1111-1111, \
                            IBAN GB82 WEST 1234 5698 7654 32, key AKIAIOSFODNN7EXAMPLE. Order 4111 1111 1111 1112.\n";

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect()
    }

    fn buffered(chunks: &[&[u8]]) -> Vec<u8> {
        let mut buffer = Buffer::default();
        chunks.iter().for_each(|chunk| buffer.write(chunk).unwrap());
        buffer.into_bytes()
    }

    #[test]
    fn redact_mode_writes_the_redacted_text_and_counts() {
        let Outcome::Output { text, counts } = check(DOCUMENT.into(), Mode::Redact) else { panic!("expected an output") };
        assert_eq!(
            text,
            "Grüße! Contact [REDACTED:email] or [REDACTED:phone]; card [REDACTED:card], \
             IBAN [REDACTED:iban], key [REDACTED:aws-key]. Order 4111 1111 1111 1112.\n"
        );
        assert_eq!(counts.to_string(), "email=1,phone=1,card=1,iban=1,aws-key=1");
    }

    #[test]
    fn quarantine_mode_names_what_was_found_and_passes_clean_text() {
        match check(DOCUMENT.into(), Mode::Quarantine) {
            Outcome::Quarantine(counts) => assert_eq!(counts.to_string(), "email=1,phone=1,card=1,iban=1,aws-key=1"),
            other => panic!("expected a quarantine, got {other:?}"),
        }
        let clean = "Nothing personal here, version 1.2.3.4 on 2026-11-25.";
        assert_eq!(check(clean.into(), Mode::Quarantine), Outcome::Output { text: clean.into(), counts: Counts::default() });
    }

    #[test]
    fn chunks_give_the_same_result_as_one_piece() {
        let bytes = DOCUMENT.as_bytes();
        let whole = check(buffered(&[bytes]), Mode::Redact);
        // Split inside "ü" (two bytes), inside the address, and inside the card number.
        let cuts = [3, 20, 60, bytes.len()];
        let mut chunks: Vec<&[u8]> = Vec::new();
        let mut from = 0;
        for cut in cuts {
            chunks.push(&bytes[from..cut]);
            from = cut;
        }
        assert_eq!(check(buffered(&chunks), Mode::Redact), whole);
        let byte_at_a_time: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(check(buffered(&byte_at_a_time), Mode::Redact), whole);
    }

    #[test]
    fn input_is_bounded() {
        let mut buffer = Buffer::default();
        buffer.write(&vec![b'a'; MAX_INPUT_BYTES - 1]).unwrap();
        buffer.write(b"a").unwrap();
        assert_eq!(buffer.write(b"a"), Err(GuardrailError::TooLarge));
        assert_eq!(GuardrailError::TooLarge.to_string(), "over the 16 MiB guardrail scans");
    }

    #[test]
    fn binary_is_skipped_not_mangled() {
        assert_eq!(check(vec![0xff, 0xd8, 0xff, 0xe0], Mode::Redact), Outcome::NotText("not UTF-8 text"));
        assert!(matches!(check(b"ann@example.com\0\x01".to_vec(), Mode::Redact), Outcome::NotText(_)));
        assert_eq!(check(Vec::new(), Mode::Redact), Outcome::Output { text: String::new(), counts: Counts::default() });
    }

    #[test]
    fn params_choose_the_mode() {
        assert_eq!(mode_from_params(&[]), Ok(Mode::Redact));
        assert_eq!(mode_from_params(&params(&[("mode", "redact")])), Ok(Mode::Redact));
        assert_eq!(mode_from_params(&params(&[("mode", "quarantine")])), Ok(Mode::Quarantine));
        assert_eq!(mode_from_params(&params(&[("mode", "delete")])), Err(GuardrailError::UnknownMode("delete".into())));
        assert_eq!(mode_from_params(&params(&[("mdoe", "quarantine")])), Err(GuardrailError::UnknownParam("mdoe".into())));
    }

    #[test]
    fn metadata_keeps_the_input_and_sets_ours_once() {
        let mut counts = Counts::default();
        counts.add(Kind::Email);
        counts.add(Kind::Email);
        counts.add(Kind::Card);
        let input = params(&[("owner", "ann"), (REDACTIONS_METADATA, "none"), (SOURCE_KEY_METADATA, "old")]);
        assert_eq!(
            output_metadata(&input, "docs/a.txt", &counts),
            params(&[("owner", "ann"), (REDACTIONS_METADATA, "email=2,card=1"), (SOURCE_KEY_METADATA, "docs/a.txt")])
        );
    }
}
