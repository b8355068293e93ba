//! Finding personal data and secrets in text with hand-written scanners: no regex engine, so the
//! component stays small. Every pattern is ASCII, so a finding starts and ends on a char boundary
//! and the text around it is kept byte for byte. The scanners lean towards precision: a number
//! is only a card if Luhn says so, an IBAN only if mod-97 says so, and a phone number has to
//! look like one (dates, versions, addresses and amounts do not).

use std::fmt;
use std::ops::Range;

/// What was found, in the order counts are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Email,
    Phone,
    Card,
    Iban,
    AwsKey,
}

impl Kind {
    pub const ALL: [Kind; 5] = [Kind::Email, Kind::Phone, Kind::Card, Kind::Iban, Kind::AwsKey];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Email => "email",
            Kind::Phone => "phone",
            Kind::Card => "card",
            Kind::Iban => "iban",
            Kind::AwsKey => "aws-key",
        }
    }

    pub fn replacement(self) -> &'static str {
        match self {
            Kind::Email => "[REDACTED:email]",
            Kind::Phone => "[REDACTED:phone]",
            Kind::Card => "[REDACTED:card]",
            Kind::Iban => "[REDACTED:iban]",
            Kind::AwsKey => "[REDACTED:aws-key]",
        }
    }

    /// Which finding wins when two overlap (lower wins): the more specific pattern, so that an
    /// address whose local part is all digits is an e-mail, not a card or a phone number.
    fn precedence(self) -> u8 {
        match self {
            Kind::Email => 0,
            Kind::AwsKey => 1,
            Kind::Iban => 2,
            Kind::Card => 3,
            Kind::Phone => 4,
        }
    }
}

/// One finding: what, and where in the text (byte offsets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub kind: Kind,
    pub range: Range<usize>,
}

/// How many findings of each kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts([usize; Kind::ALL.len()]);

impl Counts {
    pub fn add(&mut self, kind: Kind) {
        self.0[kind as usize] += 1;
    }

    pub fn get(&self, kind: Kind) -> usize {
        self.0[kind as usize]
    }

    pub fn total(&self) -> usize {
        self.0.iter().sum()
    }
}

/// `email=2,card=1`: the kinds found, in report order; `none` if nothing was.
impl fmt::Display for Counts {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.total() == 0 {
            return formatter.write_str("none");
        }
        let mut separator = "";
        for kind in Kind::ALL.into_iter().filter(|kind| self.get(*kind) > 0) {
            write!(formatter, "{separator}{}={}", kind.name(), self.get(kind))?;
            separator = ",";
        }
        Ok(())
    }
}

/// Everything found in `text`, in order, none overlapping.
pub fn find(text: &str) -> Vec<Finding> {
    let bytes = text.as_bytes();
    let mut candidates = Vec::new();
    find_emails(bytes, &mut candidates);
    find_aws_keys(bytes, &mut candidates);
    find_ibans(bytes, &mut candidates);
    find_cards(bytes, &mut candidates);
    find_phones(bytes, &mut candidates);
    without_overlaps(candidates)
}

/// `text` with every finding replaced by its `[REDACTED:kind]`, and the counts.
pub fn redact(text: &str) -> (String, Counts) {
    let findings = find(text);
    let mut counts = Counts::default();
    let mut redacted = String::with_capacity(text.len());
    let mut copied_up_to = 0;
    for finding in &findings {
        redacted.push_str(&text[copied_up_to..finding.range.start]);
        redacted.push_str(finding.kind.replacement());
        copied_up_to = finding.range.end;
        counts.add(finding.kind);
    }
    redacted.push_str(&text[copied_up_to..]);
    (redacted, counts)
}

/// The counts alone, for a job that quarantines instead of redacting.
pub fn count(text: &str) -> Counts {
    let mut counts = Counts::default();
    find(text).iter().for_each(|finding| counts.add(finding.kind));
    counts
}

/// Keeps, of overlapping candidates, the one of highest precedence. Sorted by start, a new
/// candidate can only overlap the last one kept, so one pass does.
fn without_overlaps(mut candidates: Vec<Finding>) -> Vec<Finding> {
    candidates.sort_by_key(|candidate| (candidate.range.start, candidate.kind.precedence()));
    let mut kept: Vec<Finding> = Vec::with_capacity(candidates.len());
    for candidate in candidates {
        match kept.last() {
            Some(last) if candidate.range.start < last.range.end => {
                if candidate.kind.precedence() < last.kind.precedence() {
                    kept.pop();
                    kept.push(candidate);
                }
            }
            _ => kept.push(candidate),
        }
    }
    kept
}

/// Letters, digits and `_`: a finding may not start or end inside a word.
fn is_word_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

fn word_byte_at(bytes: &[u8], index: usize) -> bool {
    bytes.get(index).is_some_and(|byte| is_word_byte(*byte))
}

fn word_byte_before(bytes: &[u8], index: usize) -> bool {
    index > 0 && is_word_byte(bytes[index - 1])
}

// ---- e-mail addresses ----

/// RFC 5321's limits; they also bound the work per `@`.
const MAX_LOCAL_PART_BYTES: usize = 64;
const MAX_DOMAIN_BYTES: usize = 253;

/// The usual local-part characters (not the quoted or exotic forms RFC 5322 allows).
fn is_local_part_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'%' | b'+' | b'-')
}

fn is_domain_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'-')
}

/// Around each `@`: the local part to its left, the domain to its right. Addresses are matched
/// in their ASCII form.
fn find_emails(bytes: &[u8], found: &mut Vec<Finding>) {
    let mut previous_end = 0;
    for at in (0..bytes.len()).filter(|index| bytes[*index] == b'@') {
        if at < previous_end {
            continue;
        }
        let mut start = at;
        while start > previous_end && is_local_part_byte(bytes[start - 1]) {
            start -= 1;
        }
        // A local part does not start with a dot ("see.ann@…" is not one).
        while start < at && bytes[start] == b'.' {
            start += 1;
        }
        let mut end = at + 1;
        while end < bytes.len() && is_domain_byte(bytes[end]) {
            end += 1;
        }
        // A sentence's full stop after the address is not part of its domain.
        while end > at + 1 && matches!(bytes[end - 1], b'.' | b'-') {
            end -= 1;
        }
        let local_part_bytes = at - start;
        if (1..=MAX_LOCAL_PART_BYTES).contains(&local_part_bytes) && is_domain(&bytes[at + 1..end]) {
            found.push(Finding { kind: Kind::Email, range: start..end });
            previous_end = end;
        }
    }
}

/// Two or more labels of letters, digits and inner hyphens, the last (the TLD) letters only.
fn is_domain(domain: &[u8]) -> bool {
    if domain.len() > MAX_DOMAIN_BYTES {
        return false;
    }
    let labels: Vec<&[u8]> = domain.split(|byte| *byte == b'.').collect();
    let label_ok = |label: &&[u8]| (1..=63).contains(&label.len()) && label[0] != b'-' && label[label.len() - 1] != b'-';
    let top_level = labels[labels.len() - 1];
    labels.len() >= 2 && labels.iter().all(label_ok) && top_level.len() >= 2 && top_level.iter().all(u8::is_ascii_alphabetic)
}

// ---- AWS access key ids ----

const AWS_KEY_BYTES: usize = 20;

/// `AKIA` (long-term) or `ASIA` (temporary) and 16 upper-case letters or digits, as a whole word.
fn find_aws_keys(bytes: &[u8], found: &mut Vec<Finding>) {
    let mut start = 0;
    while start + AWS_KEY_BYTES <= bytes.len() {
        let candidate = &bytes[start..start + AWS_KEY_BYTES];
        let is_key = (candidate.starts_with(b"AKIA") || candidate.starts_with(b"ASIA"))
            && candidate[4..].iter().all(|byte| byte.is_ascii_uppercase() || byte.is_ascii_digit())
            && !word_byte_before(bytes, start)
            && !word_byte_at(bytes, start + AWS_KEY_BYTES);
        if is_key {
            found.push(Finding { kind: Kind::AwsKey, range: start..start + AWS_KEY_BYTES });
            start += AWS_KEY_BYTES;
        } else {
            start += 1;
        }
    }
}

// ---- IBANs ----

const MIN_IBAN_CHARS: usize = 15;
const MAX_IBAN_CHARS: usize = 34;

/// A country code, two check digits and the account, upper case, written either in one piece or
/// printed in groups of four separated by single spaces; mod-97 must hold.
fn find_ibans(bytes: &[u8], found: &mut Vec<Finding>) {
    let mut start = 0;
    while start + 4 <= bytes.len() {
        match iban_at(bytes, start) {
            Some(end) => {
                found.push(Finding { kind: Kind::Iban, range: start..end });
                start = end;
            }
            None => start += 1,
        }
    }
}

/// The end of the IBAN that starts at `start`, if one does.
fn iban_at(bytes: &[u8], start: usize) -> Option<usize> {
    let head = &bytes[start..start + 4];
    let head_ok = head[..2].iter().all(u8::is_ascii_uppercase) && head[2..].iter().all(u8::is_ascii_digit);
    if !head_ok || word_byte_before(bytes, start) {
        return None;
    }
    let is_iban_byte = |byte: u8| byte.is_ascii_uppercase() || byte.is_ascii_digit();
    // Walk group by group, noting each place the IBAN could end; a group shorter than four ends
    // the printed form, so a word after the IBAN is not taken in.
    let mut chars: Vec<u8> = Vec::with_capacity(MAX_IBAN_CHARS);
    let mut possible_ends: Vec<(usize, usize)> = Vec::new(); // (end in bytes, IBAN chars so far)
    let mut cursor = start;
    loop {
        let group_start = cursor;
        while cursor < bytes.len() && is_iban_byte(bytes[cursor]) && chars.len() < MAX_IBAN_CHARS + 1 {
            chars.push(bytes[cursor]);
            cursor += 1;
        }
        let group_chars = cursor - group_start;
        if group_chars == 0 || chars.len() > MAX_IBAN_CHARS {
            break;
        }
        possible_ends.push((cursor, chars.len()));
        let printed_group = group_chars == 4;
        if !(printed_group && bytes.get(cursor) == Some(&b' ')) {
            break;
        }
        cursor += 1;
    }
    possible_ends.into_iter().rev().find_map(|(end, char_count)| {
        let fits = (MIN_IBAN_CHARS..=MAX_IBAN_CHARS).contains(&char_count) && !word_byte_at(bytes, end);
        (fits && iban_checksum_holds(&chars[..char_count])).then_some(end)
    })
}

/// ISO 13616: the first four characters moved to the end, letters as 10..35, mod 97 is 1.
fn iban_checksum_holds(chars: &[u8]) -> bool {
    let mut remainder: u32 = 0;
    for &char in chars[4..].iter().chain(&chars[..4]) {
        remainder = if char.is_ascii_digit() {
            (remainder * 10 + u32::from(char - b'0')) % 97
        } else {
            (remainder * 100 + u32::from(char - b'A') + 10) % 97
        };
    }
    remainder == 1
}

// ---- payment card numbers ----

const MIN_CARD_DIGITS: usize = 13;
const MAX_CARD_DIGITS: usize = 19;

/// Runs of digits, in one piece or in groups joined by single spaces or hyphens, taken whole:
/// 13 to 19 digits, a card network's first digit, and Luhn must hold.
fn find_cards(bytes: &[u8], found: &mut Vec<Finding>) {
    let mut start = 0;
    while start < bytes.len() {
        if !bytes[start].is_ascii_digit() {
            start += 1;
            continue;
        }
        let run = DigitRun::read(bytes, start, MAX_CARD_DIGITS);
        if run.is_card() && card_boundaries_hold(bytes, start, run.end) {
            found.push(Finding { kind: Kind::Card, range: start..run.end });
        }
        start = run.end;
    }
}

/// Not inside a word or a decimal number, and not after a `+` (a phone number's).
fn card_boundaries_hold(bytes: &[u8], start: usize, end: usize) -> bool {
    let before_ok = start == 0 || !(is_word_byte(bytes[start - 1]) || matches!(bytes[start - 1], b'.' | b',' | b'+'));
    let decimal_after = matches!(bytes.get(end), Some(b'.' | b',')) && bytes.get(end + 1).is_some_and(u8::is_ascii_digit);
    before_ok && !word_byte_at(bytes, end) && !decimal_after
}

/// Digits joined by single spaces or hyphens.
struct DigitRun {
    end: usize,
    /// The first `max_digits + 1` digits: enough to tell that a run is too long.
    digits: Vec<u8>,
    group_sizes: Vec<usize>,
}

impl DigitRun {
    fn read(bytes: &[u8], start: usize, max_digits: usize) -> Self {
        let mut run = DigitRun { end: start, digits: Vec::with_capacity(max_digits + 1), group_sizes: Vec::new() };
        let mut cursor = start;
        loop {
            let group_start = cursor;
            while cursor < bytes.len() && bytes[cursor].is_ascii_digit() {
                if run.digits.len() <= max_digits {
                    run.digits.push(bytes[cursor]);
                }
                cursor += 1;
            }
            run.group_sizes.push(cursor - group_start);
            run.end = cursor;
            let joined = matches!(bytes.get(cursor), Some(b' ' | b'-')) && bytes.get(cursor + 1).is_some_and(u8::is_ascii_digit);
            if !joined {
                return run;
            }
            cursor += 1;
        }
    }

    /// Grouped the way cards are printed (4-4-4-4, 4-6-5, …), not as a list of small numbers.
    fn is_card(&self) -> bool {
        let digit_count_ok = (MIN_CARD_DIGITS..=MAX_CARD_DIGITS).contains(&self.digits.len());
        let grouping_ok = self.group_sizes.len() == 1 || self.group_sizes.iter().all(|size| (3..=6).contains(size));
        // 2 to 6 are the card networks' major industry identifiers (Mastercard, Amex, JCB, Visa, Discover, …).
        let network_ok = (b'2'..=b'6').contains(&self.digits[0]);
        digit_count_ok && grouping_ok && network_ok && luhn_holds(&self.digits)
    }
}

fn luhn_holds(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(position, digit)| {
            let value = u32::from(digit - b'0');
            if position % 2 == 1 { if value * 2 > 9 { value * 2 - 9 } else { value * 2 } } else { value }
        })
        .sum();
    sum.is_multiple_of(10)
}

// ---- phone numbers ----

/// E.164 allows 15 digits with the country code; written without one, a number with its area
/// code has 10 to 12 (fewer is as likely an id or a quantity as a phone number).
const MIN_INTERNATIONAL_DIGITS: usize = 8;
const MAX_INTERNATIONAL_DIGITS: usize = 15;
const MIN_NATIONAL_DIGITS: usize = 10;
const MAX_NATIONAL_DIGITS: usize = 12;

fn find_phones(bytes: &[u8], found: &mut Vec<Finding>) {
    let mut start = 0;
    while start < bytes.len() {
        match phone_at(bytes, start) {
            Some(end) => {
                found.push(Finding { kind: Kind::Phone, range: start..end });
                start = end;
            }
            None => start += 1,
        }
    }
}

/// The end of the phone number that starts at `start`, if one does: `+` and a country code, or
/// a national number in groups (`555-123-4567`, `(555) 123-4567`, `020 7946 0958`).
fn phone_at(bytes: &[u8], start: usize) -> Option<usize> {
    let first = bytes[start];
    if !(first.is_ascii_digit() || first == b'+' || first == b'(') {
        return None;
    }
    // Not the middle of a word, a decimal, a range, a path or an address; nor the tail of a
    // longer number written in groups ("DE89 3704 0044 0532 0130 01"), which was tried whole.
    if start > 0 && (is_word_byte(bytes[start - 1]) || matches!(bytes[start - 1], b'.' | b'-' | b'+' | b'/' | b'@')) {
        return None;
    }
    if start > 1 && bytes[start - 1] == b' ' && bytes[start - 2].is_ascii_digit() {
        return None;
    }
    let international = first == b'+';
    let shape = PhoneShape::read(bytes, start + usize::from(international))?;
    if word_byte_at(bytes, shape.end) || bytes.get(shape.end) == Some(&b'@') {
        return None;
    }
    let looks_like_phone = if international { shape.is_international() } else { shape.is_national() };
    looks_like_phone.then_some(shape.end)
}

/// Groups of digits with single space, hyphen or dot separators; one group may be in parentheses.
struct PhoneShape {
    end: usize,
    group_sizes: Vec<usize>,
    digit_count: usize,
    dotted: bool,
}

impl PhoneShape {
    /// Reads greedily, giving up once the digits are too many for any phone number.
    fn read(bytes: &[u8], start: usize) -> Option<Self> {
        let mut shape = PhoneShape { end: start, group_sizes: Vec::new(), digit_count: 0, dotted: false };
        let mut parenthesised_group_seen = false;
        let mut cursor = start;
        loop {
            let opens = bytes.get(cursor) == Some(&b'(') && !parenthesised_group_seen;
            let digits_start = cursor + usize::from(opens);
            let mut digits_end = digits_start;
            while digits_end < bytes.len() && bytes[digits_end].is_ascii_digit() {
                digits_end += 1;
            }
            let group_size = digits_end - digits_start;
            if group_size == 0 || (opens && bytes.get(digits_end) != Some(&b')')) {
                break;
            }
            cursor = digits_end + usize::from(opens);
            parenthesised_group_seen |= opens;
            shape.group_sizes.push(group_size);
            shape.digit_count += group_size;
            shape.end = cursor;
            if shape.digit_count > MAX_INTERNATIONAL_DIGITS {
                return None;
            }
            match bytes.get(cursor) {
                Some(separator @ (b' ' | b'-' | b'.')) => {
                    shape.dotted |= *separator == b'.';
                    cursor += 1;
                }
                // "(555)123-4567": a closing parenthesis separates.
                _ if opens => {}
                _ => break,
            }
        }
        (!shape.group_sizes.is_empty()).then_some(shape)
    }

    fn is_international(&self) -> bool {
        (MIN_INTERNATIONAL_DIGITS..=MAX_INTERNATIONAL_DIGITS).contains(&self.digit_count)
    }

    fn is_national(&self) -> bool {
        let sizes = self.group_sizes.as_slice();
        let digit_count_ok = (MIN_NATIONAL_DIGITS..=MAX_NATIONAL_DIGITS).contains(&self.digit_count);
        // A bare run of digits is as likely an id as a phone number.
        let grouped = sizes.len() >= 2;
        // "1-800-555-0199" may start with one digit; "978-3-16-148410-0" (an ISBN) or
        // "10.0.19041.1" (a version) have one later on.
        let later_groups_ok = sizes[1..].iter().all(|size| *size >= 2);
        digit_count_ok && grouped && later_groups_ok && !self.is_date() && !self.is_grouped_like_non_phone()
    }

    /// "2026-11-25 10:30" or "25.11.2026 10": a date, possibly with a time after it.
    fn is_date(&self) -> bool {
        match self.group_sizes.as_slice() {
            [4, month, day, ..] => *month <= 2 && *day <= 2,
            [day, month, 4, ..] => *day <= 2 && *month <= 2,
            _ => false,
        }
    }

    /// "1 234 567 890" (an amount), "1234-5678-9012" (an id printed like a card),
    /// "192.168.100.200" (an IPv4 address).
    fn is_grouped_like_non_phone(&self) -> bool {
        let sizes = self.group_sizes.as_slice();
        let thousands = sizes.len() >= 3 && sizes[0] <= 3 && sizes[1..].iter().all(|size| *size == 3);
        let card_like = sizes.len() >= 3 && sizes.iter().all(|size| *size == 4);
        let ipv4 = self.dotted && sizes.len() == 4 && sizes.iter().all(|size| *size <= 3);
        thousands || card_like || ipv4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redacted(text: &str) -> String {
        redact(text).0
    }

    fn kinds(text: &str) -> Vec<Kind> {
        find(text).into_iter().map(|finding| finding.kind).collect()
    }

    #[test]
    fn planted_data_in_prose_is_redacted_and_the_rest_kept() {
        let text = "Hi team,\n\nplease refund Ann Lee (ann.lee+billing@mail.example.co.uk, +44 20 7946 0958). \
                    Her card 4111 1111 1111 1111 was charged twice; pay it back to DE89 3704 0044 0532 0130 00 instead.\n\
                    Also rotate AKIAIOSFODNN7EXAMPLE — it leaked in the wiki. Thanks, Bob (555) 123-4567.\n";
        let (text_out, counts) = redact(text);
        assert_eq!(
            text_out,
            "Hi team,\n\nplease refund Ann Lee ([REDACTED:email], [REDACTED:phone]). \
             Her card [REDACTED:card] was charged twice; pay it back to [REDACTED:iban] instead.\n\
             Also rotate [REDACTED:aws-key] — it leaked in the wiki. Thanks, Bob [REDACTED:phone].\n"
        );
        assert_eq!(counts.to_string(), "email=1,phone=2,card=1,iban=1,aws-key=1");
        assert_eq!(counts.total(), 6);
    }

    #[test]
    fn counts_are_per_kind_and_in_report_order() {
        let (_, counts) = redact("a@example.com, b@example.org, 5500-0000-0000-0004 and c@example.net");
        assert_eq!((counts.get(Kind::Email), counts.get(Kind::Card), counts.get(Kind::Phone)), (3, 1, 0));
        assert_eq!(counts.to_string(), "email=3,card=1");
        assert_eq!(count("nothing to see here").to_string(), "none");
    }

    #[test]
    fn text_without_findings_is_unchanged() {
        let text = "Prices: 1 234 567 890 ¥, 3.14159, v2.14.1023.17, ISBN 978-3-16-148410-0 — naïve café, ok?\n\r\n\t";
        assert_eq!(redacted(text), text);
    }

    #[test]
    fn e_mail_at_the_end_of_a_sentence_keeps_its_full_stop() {
        assert_eq!(redacted("Write to ann@example.com."), "Write to [REDACTED:email].");
        assert_eq!(redacted("<ann@example.com>, (bob@x.io)!"), "<[REDACTED:email]>, ([REDACTED:email])!");
        assert_eq!(redacted("mailto:ann@example.com?subject=hi"), "mailto:[REDACTED:email]?subject=hi");
    }

    #[test]
    fn things_that_are_not_e_mail_addresses_are_left() {
        for text in ["@handle", "user@localhost", "a@b.c", "ann@example.", "x@-bad.com", "price @ 3.50", "see .@example.com"] {
            assert_eq!(redacted(text), text);
        }
    }

    #[test]
    fn cards_need_luhn() {
        assert_eq!(redacted("card 4111111111111111."), "card [REDACTED:card].");
        assert_eq!(redacted("Amex 3782 822463 10005 ok"), "Amex [REDACTED:card] ok");
        // Order and tracking numbers of card length that fail Luhn are left.
        for text in ["Order 4111 1111 1111 1112 shipped", "order no. 4234-5678-9012-3457", "ref 5500000000000005"] {
            assert_eq!(redacted(text), text);
        }
        // Luhn holds but it is no card: a network's first digit is missing, or it is a decimal.
        for text in ["id 0000000000000000", "x 1.4111111111111111", "4111111111111111.25 EUR"] {
            assert_eq!(redacted(text), text);
        }
    }

    #[test]
    fn phone_numbers_in_their_usual_shapes() {
        for (text, expected) in [
            ("call +1 (555) 123-4567 now", "call [REDACTED:phone] now"),
            ("call 555-123-4567.", "call [REDACTED:phone]."),
            ("call 555.123.4567", "call [REDACTED:phone]"),
            ("(555)123-4567", "[REDACTED:phone]"),
            ("Tel: 020 7946 0958", "Tel: [REDACTED:phone]"),
            ("tél. 06 12 34 56 78", "tél. [REDACTED:phone]"),
            ("1-800-555-0199", "[REDACTED:phone]"),
            ("+4930123456", "[REDACTED:phone]"),
            ("+33 1 23 45 67 89", "[REDACTED:phone]"),
        ] {
            assert_eq!(redacted(text), expected, "{text}");
        }
    }

    #[test]
    fn dates_versions_and_other_numbers_are_not_phone_numbers() {
        for text in [
            "released 2026-11-25",
            "at 2026-11-25 10:30 UTC",
            "on 25.11.2026 10:30",
            "version 1.2.3.4",
            "build 10.0.19041.1",
            "host 192.168.100.200",
            "ISBN 978-3-16-148410-0",
            "zip 12345-6789",
            "total 1 234 567 890",
            "order 1234-5678-9012",
            "id 5551234567",
            "555-123-4567x",
            "2024-2026 and 1990-2000",
        ] {
            assert_eq!(kinds(text), vec![], "{text}");
        }
    }

    #[test]
    fn iban_needs_its_checksum() {
        assert_eq!(redacted("IBAN: GB82WEST12345698765432."), "IBAN: [REDACTED:iban].");
        assert_eq!(redacted("to DE89 3704 0044 0532 0130 00 EUR"), "to [REDACTED:iban] EUR");
        assert_eq!(redacted("FR14 2004 1010 0505 0001 3M02 606 ok"), "[REDACTED:iban] ok");
        // One digit off: the check digits no longer match.
        for text in ["GB82WEST12345698765433", "DE89 3704 0044 0532 0130 01", "de89370400440532013000", "XDE89370400440532013000"] {
            assert_eq!(redacted(text), text);
        }
    }

    #[test]
    fn aws_access_key_ids() {
        assert_eq!(redacted("key=AKIAIOSFODNN7EXAMPLE\n"), "key=[REDACTED:aws-key]\n");
        assert_eq!(redacted("\"ASIAY34FZKBOKMUTVV7A\""), "\"[REDACTED:aws-key]\"");
        for text in ["AKIAIOSFODNN7EXAMPLEX", "XAKIAIOSFODNN7EXAMPLE", "AKIAiosfodnn7example", "AKIAIOSFODNN7EXAMPL"] {
            assert_eq!(redacted(text), text);
        }
    }

    #[test]
    fn overlapping_candidates_resolve_to_the_more_specific() {
        // Digits that pass Luhn in an address's local part: one e-mail, not a card.
        assert_eq!(redact("4111111111111111@example.com").1.to_string(), "email=1");
        assert_eq!(redacted("call 555-123-4567 or mail 5551234567@example.com"), "call [REDACTED:phone] or mail [REDACTED:email]");
    }

    #[test]
    fn text_around_findings_is_kept_byte_for_byte_even_when_not_ascii() {
        let text = "Grüße — 📞 555-123-4567 · ✉ jo@example.de · 日本語";
        assert_eq!(redacted(text), "Grüße — 📞 [REDACTED:phone] · ✉ [REDACTED:email] · 日本語");
    }

    #[test]
    fn checksums() {
        assert!(luhn_holds(b"79927398713"));
        assert!(!luhn_holds(b"79927398710"));
        assert!(iban_checksum_holds(b"GB82WEST12345698765432"));
        assert!(!iban_checksum_holds(b"GB82WEST12345698765423"));
    }
}
