//! Raw log bytes to message text, with invalid UTF-8 replaced exactly as Go replaces it.
//!
//! The Go providers keep a log line as a Go `string` (any bytes) and let `json.Encoder` deal with
//! invalid UTF-8: it decodes with `utf8.DecodeRuneInString`, which returns `(RuneError, 1)` for
//! every byte that does not start a complete, shortest-form, non-surrogate sequence of at most
//! U+10FFFF, and writes `\ufffd` for each such byte (golang/go `src/unicode/utf8/utf8.go`,
//! `DecodeRune`; `src/encoding/json/encode.go`, `appendString`). So a truncated `E6 97` becomes
//! two replacement characters in Go, where Rust's `String::from_utf8_lossy` (which replaces a
//! whole "maximal subpart" at once) gives one. [`text_from_bytes`] gives Go's count; the NDJSON
//! encoder then writes each U+FFFD as `\ufffd`, as Go does for a replaced byte.

use std::borrow::Cow;

/// U+FFFD REPLACEMENT CHARACTER.
const REPLACEMENT: char = '\u{FFFD}';

/// `bytes` as message text: valid UTF-8 unchanged (borrowed, no copy), and every byte that Go's
/// `utf8.DecodeRune` rejects replaced by one U+FFFD, so the text equals what Go's `json.Encoder`
/// writes for the same line.
///
/// Every backend turns raw log bytes into [`crate::Message::text`] with this function.
pub fn text_from_bytes(bytes: &[u8]) -> Cow<'_, str> {
    if let Ok(text) = std::str::from_utf8(bytes) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(bytes.len() + 16);
    // `utf8_chunks` splits at Rust's "maximal subparts": each invalid part is one to three bytes
    // that Rust would replace with a single U+FFFD. Go advances one byte at a time instead, and
    // none of the bytes after the first of such a part (continuation bytes, 80..BF) can start a
    // sequence, so Go replaces every byte of the part: one U+FFFD per invalid byte. Both resume
    // at the same byte after the part. (Proven against a model of Go's loop in the tests.)
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for _ in chunk.invalid() {
            out.push(REPLACEMENT);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// An independent model of Go's `for i < len(s) { r, size := utf8.DecodeRune(s[i:]) … }`
    /// loop, written from golang/go `src/unicode/utf8/utf8.go`: the `first` table (which bytes
    /// start sequences of which length), `acceptRanges` (the narrowed range of the second byte
    /// after E0, ED, F0, F4: no overlongs, no surrogates, nothing above U+10FFFF) and the rule
    /// that an invalid or incomplete sequence yields `(RuneError, 1)`.
    fn go_decode_loop(s: &[u8]) -> String {
        let mut out = String::new();
        let mut i = 0;
        while i < s.len() {
            let (rune, size) = go_decode_rune(&s[i..]);
            out.push(rune);
            i += size;
        }
        out
    }

    pub(crate) fn go_decode_rune(p: &[u8]) -> (char, usize) {
        const ERROR: (char, usize) = (REPLACEMENT, 1);
        let b0 = p[0];
        let (size, lo, hi) = match b0 {
            0x00..=0x7F => return (char::from(b0), 1),
            0x80..=0xC1 => return ERROR, // continuation bytes; C0, C1 only make overlongs
            0xC2..=0xDF => (2, 0x80, 0xBF),
            0xE0 => (3, 0xA0, 0xBF), // below A0: overlong
            0xE1..=0xEC | 0xEE..=0xEF => (3, 0x80, 0xBF),
            0xED => (3, 0x80, 0x9F), // above 9F: surrogates D800..DFFF
            0xF0 => (4, 0x90, 0xBF), // below 90: overlong
            0xF1..=0xF3 => (4, 0x80, 0xBF),
            0xF4 => (4, 0x80, 0x8F), // above 8F: beyond U+10FFFF
            0xF5..=0xFF => return ERROR,
        };
        if p.len() < size {
            return ERROR;
        }
        if p[1] < lo || p[1] > hi {
            return ERROR;
        }
        if p[2..size].iter().any(|b| !(0x80..=0xBF).contains(b)) {
            return ERROR;
        }
        let mut cp = u32::from(b0) & (0x7F >> size);
        for b in &p[1..size] {
            cp = (cp << 6) | (u32::from(*b) & 0x3F);
        }
        match char::from_u32(cp) {
            Some(c) => (c, size),
            None => ERROR,
        }
    }

    const R: char = REPLACEMENT;

    /// Go's output for invalid sequences, one case per rule of `DecodeRune`, derived from
    /// golang/go `src/unicode/utf8/utf8.go` (`first`, `acceptRanges`, `DecodeRune`): each
    /// rejected byte is one U+FFFD, decoding resumes at the next byte.
    const GO_TABLE: &[(&[u8], &str)] = &[
        // Truncated 2-, 3- and 4-byte sequences: every byte replaced.
        (b"\xC3", "\u{FFFD}"),
        (b"\xE6\x97", "\u{FFFD}\u{FFFD}"),
        (b"\xE6", "\u{FFFD}"),
        (b"\xF0\x9F\x98", "\u{FFFD}\u{FFFD}\u{FFFD}"),
        (b"\xF0\x9F", "\u{FFFD}\u{FFFD}"),
        // Truncated in the middle of text: the next valid byte is kept.
        (b"a\xE6\x97b", "a\u{FFFD}\u{FFFD}b"),
        (b"\xE6\x97\xE6\x97\xA5", "\u{FFFD}\u{FFFD}日"),
        (b"\xF0\x9F\x98x", "\u{FFFD}\u{FFFD}\u{FFFD}x"),
        // Overlongs: C0/C1 never start a sequence; E0 needs A0.., F0 needs 90...
        (b"\xC0\x80", "\u{FFFD}\u{FFFD}"),
        (b"\xC1\xBF", "\u{FFFD}\u{FFFD}"),
        (b"\xE0\x80\x80", "\u{FFFD}\u{FFFD}\u{FFFD}"),
        (b"\xE0\x9F\xBF", "\u{FFFD}\u{FFFD}\u{FFFD}"),
        (b"\xF0\x80\x80\x80", "\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}"),
        (b"\xF0\x8F\xBF\xBF", "\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}"),
        // Surrogates U+D800..U+DFFF: ED needs ..9F.
        (b"\xED\xA0\x80", "\u{FFFD}\u{FFFD}\u{FFFD}"),
        (b"\xED\xBF\xBF", "\u{FFFD}\u{FFFD}\u{FFFD}"),
        // Beyond U+10FFFF: F4 needs ..8F; F5..FF never start a sequence.
        (b"\xF4\x90\x80\x80", "\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}"),
        (b"\xF5\x80\x80\x80", "\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}"),
        (b"\xF7\xBF\xBF\xBF", "\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}"),
        (
            b"\xF8\x88\x80\x80\x80",
            "\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}",
        ),
        (
            b"\xFC\x84\x80\x80\x80\x80",
            "\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}",
        ),
        (b"\xFE\xFF", "\u{FFFD}\u{FFFD}"),
        // Stray continuation bytes.
        (b"\x80", "\u{FFFD}"),
        (b"\xBF", "\u{FFFD}"),
        (b"a\x80\x80b", "a\u{FFFD}\u{FFFD}b"),
        // A lead byte followed by a non-continuation: only the lead is replaced.
        (b"\xC3A", "\u{FFFD}A"),
        (b"\xE6\x97A", "\u{FFFD}\u{FFFD}A"),
        (b"\xE6A\xA5", "\u{FFFD}A\u{FFFD}"),
        // Mixes with valid text, including the extremes Go accepts.
        (b"ok \xFF\xFE end", "ok \u{FFFD}\u{FFFD} end"),
        (
            b"\xE2\x82\xAC\xE2\x82 \xF4\x8F\xBF\xBF",
            "€\u{FFFD}\u{FFFD} \u{10FFFF}",
        ),
        (b"\xC2\x80\xDF\xBF", "\u{80}\u{7FF}"),
        (b"\xE0\xA0\x80\xED\x9F\xBF", "\u{800}\u{D7FF}"),
        (b"\xEE\x80\x80\xF0\x90\x80\x80", "\u{E000}\u{10000}"),
        (b"\xEF\xBF\xBD", "\u{FFFD}"), // a real U+FFFD is valid text
    ];

    #[test]
    fn replaces_invalid_bytes_as_go_does() {
        for &(input, want) in GO_TABLE {
            assert_eq!(text_from_bytes(input), want, "input {input:x?}");
            assert_eq!(go_decode_loop(input), want, "model, input {input:x?}");
        }
    }

    #[test]
    fn the_kubelet_case_gives_two_replacements_not_one() {
        // What issue 10 saw: Rust's lossy conversion gives one U+FFFD here, Go two.
        let line = b"\xE6\x97";
        assert_eq!(
            String::from_utf8_lossy(line)
                .chars()
                .filter(|c| *c == R)
                .count(),
            1
        );
        assert_eq!(text_from_bytes(line).chars().filter(|c| *c == R).count(), 2);
    }

    #[test]
    fn valid_text_is_borrowed() {
        let text = "ünïcødé ✓ \u{10FFFF}".as_bytes();
        assert!(matches!(text_from_bytes(text), Cow::Borrowed(t) if t.as_bytes() == text));
    }

    /// Bytes biased towards the interesting ones: lead bytes of every length, the bytes that
    /// narrow the second byte's range, continuation bytes and never-valid bytes.
    fn tricky_bytes() -> impl Strategy<Value = Vec<u8>> {
        let byte = prop_oneof![
            any::<u8>(),
            prop::sample::select(vec![
                0x80u8, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE1, 0xED,
                0xEF, 0xF0, 0xF1, 0xF4, 0xF5, 0xFF, b'a',
            ]),
        ];
        prop::collection::vec(byte, 0..48)
    }

    proptest! {
        #[test]
        fn equals_gos_decode_loop(bytes in tricky_bytes()) {
            let ours = text_from_bytes(&bytes).into_owned();
            prop_assert_eq!(ours, go_decode_loop(&bytes));
        }

        #[test]
        fn valid_utf8_passes_through_unchanged(text in "\\PC*|[\\x00-\\x7f]*|[\\u{80}-\\u{10FFFF}]*") {
            let ours = text_from_bytes(text.as_bytes());
            prop_assert!(matches!(ours, Cow::Borrowed(_)));
            prop_assert_eq!(ours.as_ref(), text.as_str());
        }
    }
}
