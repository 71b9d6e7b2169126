//! Source bytes → text, as CPython's tokenizer decodes them.
//!
//! PEP 263 and `tokenize.detect_encoding`: a UTF-8 BOM, or a coding cookie on
//! the first line (or the second, when the first is blank or a comment), else
//! UTF-8. Bytes that are not UTF-8 in UTF-8 source are replaced and listed,
//! since CPython rejects them only outside comments (the parser decides).

use std::borrow::Cow;

use crate::charmaps;
use crate::source::SourceError;

const UTF8_BOM: &[u8] = b"\xef\xbb\xbf";

/// Decode source bytes the way CPython's tokenizer does, strictly: any byte
/// that is not text in the source's encoding is an error.
pub fn decode(bytes: &[u8]) -> Result<Cow<'_, str>, SourceError> {
    let (text, invalid) = decode_lenient(bytes)?;
    match invalid.into_iter().next() {
        Some(first) => Err(first.error),
        None => Ok(text),
    }
}

/// A byte sequence that is not UTF-8, replaced by U+FFFD in the text.
#[derive(Clone, Debug)]
pub(crate) struct InvalidUtf8 {
    /// Offset of the replacement character in the decoded text.
    pub(crate) text_offset: usize,
    /// The error CPython reports if it has to decode these bytes.
    pub(crate) error: SourceError,
}

/// Decode like [`decode`], except that in UTF-8 source (no cookie, or one
/// whose normal name is `utf-8`) bytes that are not UTF-8 are replaced by
/// U+FFFD and listed: CPython decodes such source lazily, token by token, so
/// they are an error only outside comments (see [`analyze_bytes`]).
pub(crate) fn decode_lenient(bytes: &[u8]) -> Result<(Cow<'_, str>, Vec<InvalidUtf8>), SourceError> {
    let (has_bom, body) = match bytes.strip_prefix(UTF8_BOM) {
        Some(rest) => (true, rest),
        None => (false, bytes),
    };
    let cookie = find_cookie(body);
    let encoding = match &cookie {
        None => "utf-8".to_owned(),
        Some((name, line)) => {
            let normalized = normalize_encoding(name);
            // With a BOM, CPython's tokenizer compares the cookie's normal
            // name (`get_normal_name`, no codec aliasing) with "utf-8": a BOM
            // with `utf8` is an error, with `UTF_8` or `utf-8-sig` it is not.
            if has_bom && !is_c_normal_utf8(name) {
                return Err(SourceError::Decode {
                    message: format!("encoding problem: {name} with BOM"),
                    line: *line,
                });
            }
            normalized
        }
    };
    let cookie_line = cookie.as_ref().map_or(1, |(_, line)| *line);
    // `# coding: utf8` is decoded eagerly by the `utf8` codec, which is strict.
    let lazy_utf8 = cookie.as_ref().is_none_or(|(name, _)| is_c_normal_utf8(name));
    if encoding == "utf-8" && lazy_utf8 {
        return Ok(match std::str::from_utf8(body) {
            Ok(text) => (Cow::Borrowed(text), Vec::new()),
            Err(_) => utf8_with_replacements(body),
        });
    }
    let text = match encoding.as_str() {
        "utf-8" => match std::str::from_utf8(body) {
            Ok(text) => Ok(Cow::Borrowed(text)),
            Err(err) => {
                let offset = err.valid_up_to();
                Err(SourceError::Decode {
                    message: format!(
                        "(unicode error) 'utf-8' codec can't decode byte 0x{:02x} in position {offset}",
                        body[offset]
                    ),
                    line: line_of_byte(body, offset),
                })
            }
        },
        "iso-8859-1" => Ok(Cow::Owned(body.iter().map(|&b| b as char).collect())),
        "ascii" => match body.iter().position(|&b| b >= 0x80) {
            None => Ok(Cow::Owned(body.iter().map(|&b| b as char).collect())),
            Some(offset) => Err(SourceError::Decode {
                message: format!(
                    "(unicode error) 'ascii' codec can't decode byte 0x{:02x} in position {offset}",
                    body[offset]
                ),
                line: line_of_byte(body, offset),
            }),
        },
        other => {
            // Python's own single-byte codecs first: the WHATWG decoders lack
            // many of them and differ from Python on some they share.
            let cookie_name = cookie.as_ref().map_or(other, |(name, _)| name.as_str());
            if let Some(table) = charmap(cookie_name) {
                return decode_charmap(body, table).map(|text| (Cow::Owned(text), Vec::new()));
            }
            let Some(codec) = encoding_rs::Encoding::for_label(other.as_bytes()) else {
                return Err(SourceError::Decode {
                    message: format!("unknown encoding: {}", cookie.map(|c| c.0).unwrap_or_default()),
                    line: cookie_line,
                });
            };
            match codec.decode_without_bom_handling_and_without_replacement(body) {
                Some(text) => Ok(Cow::Owned(text.into_owned())),
                None => Err(SourceError::Decode {
                    message: format!("(unicode error) '{other}' codec can't decode the source"),
                    line: cookie_line,
                }),
            }
        }
    }?;
    Ok((text, Vec::new()))
}

/// The decoding table of CPython's single-byte codec that `name` names (any
/// spelling the codec registry accepts: `cp437`, `IBM437`, `mac-roman`, ...),
/// found as `encodings.search_function` finds the codec's module.
fn charmap(name: &str) -> Option<&'static [u16; 256]> {
    let key = python_codec_key(name);
    let alias = |key: &str| {
        charmaps::ALIASES
            .binary_search_by(|(alias, _)| (*alias).cmp(key))
            .ok()
            .map(|i| charmaps::ALIASES[i].1)
    };
    let codec = |module: &str| {
        charmaps::CODECS
            .binary_search_by(|(name, _)| (*name).cmp(module))
            .ok()
            .map(|i| &charmaps::CODECS[i].1)
    };
    alias(&key).or_else(|| alias(&key.replace('.', "_"))).and_then(codec).or_else(|| codec(&key))
}

/// `body` decoded with a single-byte codec's table, strictly, with CPython's
/// message for a byte the codec does not define.
fn decode_charmap(body: &[u8], table: &[u16; 256]) -> Result<String, SourceError> {
    let mut text = String::with_capacity(body.len() + body.len() / 2);
    for (offset, &byte) in body.iter().enumerate() {
        let unit = table[usize::from(byte)];
        match char::from_u32(u32::from(unit)).filter(|_| unit != charmaps::UNDEFINED) {
            Some(c) => text.push(c),
            None => {
                return Err(SourceError::Decode {
                    message: format!(
                        "'charmap' codec can't decode byte 0x{byte:02x} in position {offset}: \
                         character maps to <undefined>"
                    ),
                    line: line_of_byte(body, offset),
                })
            }
        }
    }
    Ok(text)
}

/// `body` as text with each maximal invalid sequence replaced by U+FFFD, and
/// where those replacements are.
fn utf8_with_replacements(body: &[u8]) -> (Cow<'_, str>, Vec<InvalidUtf8>) {
    let mut text = String::with_capacity(body.len() + 16);
    let mut invalid = Vec::new();
    let mut position = 0;
    for chunk in body.utf8_chunks() {
        text.push_str(chunk.valid());
        position += chunk.valid().len();
        let bad = chunk.invalid();
        if let Some(&byte) = bad.first() {
            invalid.push(InvalidUtf8 {
                text_offset: text.len(),
                error: SourceError::Decode {
                    message: format!(
                        "(unicode error) 'utf-8' codec can't decode byte 0x{byte:02x} in position {position}"
                    ),
                    line: line_of_byte(body, position),
                },
            });
            text.push(char::REPLACEMENT_CHARACTER);
            position += bad.len();
        }
    }
    (Cow::Owned(text), invalid)
}

/// The coding cookie of the first two lines, with its 1-based line.
fn find_cookie(bytes: &[u8]) -> Option<(String, u32)> {
    let mut rest = bytes;
    for line_no in 1..=2u32 {
        if rest.is_empty() {
            return None;
        }
        // CPython turns `\r\n` and a lone `\r` into `\n` before looking.
        let end = match rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            Some(i) if rest[i] == b'\r' && rest.get(i + 1) == Some(&b'\n') => i + 2,
            Some(i) => i + 1,
            None => rest.len(),
        };
        let line = &rest[..end];
        if let Some(name) = cookie_in_line(line) {
            return Some((name, line_no));
        }
        // Only a blank or comment-only first line lets the second one count.
        let trimmed = trim_start_ws(line);
        let blank_or_comment = trimmed.is_empty() || matches!(trimmed[0], b'#' | b'\r' | b'\n');
        if !blank_or_comment {
            return None;
        }
        rest = &rest[end..];
    }
    None
}

fn trim_start_ws(line: &[u8]) -> &[u8] {
    let start = line.iter().position(|&b| !matches!(b, b' ' | b'\t' | b'\x0c')).unwrap_or(line.len());
    &line[start..]
}

/// `^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)`, as in `tokenize.cookie_re`.
fn cookie_in_line(line: &[u8]) -> Option<String> {
    let trimmed = trim_start_ws(line);
    if trimmed.first() != Some(&b'#') {
        return None;
    }
    let text = &trimmed[1..];
    let mut search = 0;
    while let Some(pos) = find(&text[search..], b"coding") {
        let after = search + pos + b"coding".len();
        if matches!(text.get(after), Some(b':' | b'=')) {
            let value = trim_start_ws_no_ff(&text[after + 1..]);
            let len = value
                .iter()
                .position(|&b| !(b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')))
                .unwrap_or(value.len());
            if len > 0 {
                return Some(String::from_utf8_lossy(&value[..len]).into_owned());
            }
        }
        search = search + pos + 1;
    }
    None
}

fn trim_start_ws_no_ff(text: &[u8]) -> &[u8] {
    let start = text.iter().position(|&b| !matches!(b, b' ' | b'\t')).unwrap_or(text.len());
    &text[start..]
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Whether CPython's `get_normal_name` (tokenizer.c) turns `name` into
/// "utf-8": its first 12 characters, lower-cased with `_` as `-`, are
/// `utf-8` or start with `utf-8-`.
fn is_c_normal_utf8(name: &str) -> bool {
    let head: String =
        name.chars().take(12).map(|c| if c == '_' { '-' } else { c.to_ascii_lowercase() }).collect();
    head == "utf-8" || head.starts_with("utf-8-")
}

/// The decoder for a cookie's encoding name: `utf-8`, `iso-8859-1` and
/// `ascii` (decoded natively) for what CPython resolves to those codecs,
/// otherwise the lower-cased name, for `encoding_rs`.
///
/// CPython first applies `get_normal_name` (tokenizer.c), then looks the
/// result up in the codec registry, whose aliases are those of
/// `encodings.aliases` (the same in 3.10 to 3.13).
fn normalize_encoding(name: &str) -> String {
    if is_c_normal_utf8(name) {
        return "utf-8".into();
    }
    let head: String =
        name.chars().take(12).map(|c| if c == '_' { '-' } else { c.to_ascii_lowercase() }).collect();
    let latin = ["latin-1", "iso-8859-1", "iso-latin-1"];
    if latin.iter().any(|l| head == *l || head.starts_with(&format!("{l}-"))) {
        return "iso-8859-1".into();
    }
    let key = python_codec_key(name);
    let dotless = key.replace('.', "_");
    let native = |aliases: &[&str]| aliases.iter().any(|a| *a == key || *a == dotless);
    if native(&["utf_8", "cp65001", "u8", "utf", "utf8", "utf8_ucs2", "utf8_ucs4"]) {
        return "utf-8".into();
    }
    if native(&[
        "latin_1",
        "8859",
        "cp819",
        "csisolatin1",
        "ibm819",
        "iso8859",
        "iso8859_1",
        "iso_8859_1",
        "iso_8859_1_1987",
        "iso_ir_100",
        "l1",
        "latin",
        "latin1",
    ]) {
        return "iso-8859-1".into();
    }
    if native(&[
        "ascii",
        "646",
        "ansi_x3.4_1968",
        "ansi_x3_4_1968",
        "ansi_x3.4_1986",
        "cp367",
        "csascii",
        "ibm367",
        "iso646_us",
        "iso_646.irv_1991",
        "iso_ir_6",
        "us",
        "us_ascii",
    ]) {
        return "ascii".into();
    }
    name.to_ascii_lowercase()
}

/// A codec name as the codec registry compares it: lower case, each run of
/// characters other than letters, digits and `.` one `_`, none at the ends
/// (`codecs.lookup` then `encodings.normalize_encoding`).
fn python_codec_key(name: &str) -> String {
    let mut key = String::with_capacity(name.len());
    let mut punct = false;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || c == '.' {
            if punct && !key.is_empty() {
                key.push('_');
            }
            key.push(c.to_ascii_lowercase());
            punct = false;
        } else {
            punct = true;
        }
    }
    key
}

fn line_of_byte(bytes: &[u8], offset: usize) -> u32 {
    line_at(&bytes[..offset.min(bytes.len())])
}

/// 1-based line number at the end of `prefix`, counting `\n`, `\r\n` and a
/// lone `\r` as line ends, as CPython does.
pub(crate) fn line_at(prefix: &[u8]) -> u32 {
    let mut line = 1u32;
    let mut iter = prefix.iter().peekable();
    while let Some(&b) = iter.next() {
        match b {
            b'\n' => line += 1,
            b'\r' if iter.peek() != Some(&&b'\n') => line += 1,
            _ => {}
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_python_single_byte_codecs() {
        // cp437 and mac-roman: codecs the WHATWG set lacks.
        assert_eq!(decode(b"# coding: cp437\ns = '\x82'\n").unwrap(), "# coding: cp437\ns = '\u{e9}'\n");
        assert!(decode(b"# -*- coding: mac-roman -*-\ns = '\x8e'\n").unwrap().contains('\u{e9}'));
        assert!(decode(b"# coding: IBM437\ns = '\x82'\n").unwrap().contains('\u{e9}'));
        // cp1252 as Python has it: 0x81 is undefined (WHATWG maps it to U+0081).
        let Err(SourceError::Decode { message, line }) = decode(b"# coding: cp1252\n\ns = '\x81'\n") else {
            panic!("cp1252's 0x81 must not decode");
        };
        assert_eq!(line, 3);
        assert!(message.contains("byte 0x81 in position 23"), "{message}");
        assert_eq!(
            decode(b"# coding: windows-1252\ns = '\x80'\n").unwrap(),
            "# coding: windows-1252\ns = '\u{20ac}'\n"
        );
        // Multi-byte codecs are still encoding_rs's.
        assert!(decode(b"# coding: shift_jis\ns = '\x82\xa0'\n").unwrap().contains('\u{3042}'));
    }

    #[test]
    fn decodes_bom_and_cookies() {
        assert_eq!(decode(b"\xef\xbb\xbfimport a\n").unwrap(), "import a\n");
        let latin = b"# -*- coding: latin-1 -*-\ns = '\xe9'\n";
        assert!(decode(latin).unwrap().contains('\u{e9}'));
        let second_line = b"#!/usr/bin/env python\n# vim: set fileencoding=cp1252 :\ns = '\x80'\n";
        assert!(decode(second_line).unwrap().contains('\u{20ac}'));
        // A cookie on line 2 after code on line 1 does not count.
        let ignored = b"x = 1\n# coding: latin-1\ns = '\xe9'\n";
        assert!(decode(ignored).is_err());
        assert!(matches!(decode(b"\xff\xfe"), Err(SourceError::Decode { line: 1, .. })));
        assert!(decode(b"# coding: no-such-codec\n").is_err());
        assert!(decode(b"\xef\xbb\xbf# coding: latin-1\n").is_err());
    }

    #[test]
    fn bom_accepts_only_cookies_cpython_normalises_to_utf8() {
        // tokenizer.c compares get_normal_name(cookie) with "utf-8": no
        // codec aliases, so `utf8` with a BOM is an error
        // (Lib/test/tokenizedata/bad_coding2.py).
        assert!(decode(b"\xef\xbb\xbf#coding: utf8\nprint('x')\n").is_err());
        assert!(decode(b"\xef\xbb\xbf# coding: UTF_8\nimport a\n").is_ok());
        assert!(decode(b"\xef\xbb\xbf# coding: utf-8-sig\nimport a\n").is_ok());
        // Without a BOM, `utf8` is the codec alias of UTF-8.
        assert!(decode(b"#coding: utf8\ns = '\xc3\xa9'\n").is_ok());
    }

    #[test]
    fn cookies_follow_cr_and_crlf_line_ends() {
        // CPython translates `\r` and `\r\n` to `\n` before looking for a cookie.
        assert!(decode(b"\x0c\r# coding: latin-1\rs = '\xe9'\r").unwrap().contains('\u{e9}'));
        assert!(decode(b"#!x\r\n# coding: latin-1\r\ns = '\xe9'\r\n").unwrap().contains('\u{e9}'));
        assert!(decode(b"x = 1\r# coding: latin-1\rs = '\xe9'\r").is_err());
    }

    #[test]
    fn cookie_names_resolve_like_the_codec_registry() {
        for (name, expected) in [
            ("utf-8", "utf-8"),
            ("UTF_8", "utf-8"),
            ("utf-8-sig", "utf-8"),
            ("utf8", "utf-8"),
            ("U8", "utf-8"),
            ("cp65001", "utf-8"),
            ("latin-1", "iso-8859-1"),
            ("Latin-1-x", "iso-8859-1"),
            ("latin", "iso-8859-1"),
            ("ISO8859-1", "iso-8859-1"),
            ("iso_ir_100", "iso-8859-1"),
            ("l1", "iso-8859-1"),
            ("us-ascii", "ascii"),
            ("ANSI_X3.4-1968", "ascii"),
            ("646", "ascii"),
            ("cp1252", "cp1252"),
            ("latin1-x", "latin1-x"), // unknown to Python and to encoding_rs
        ] {
            assert_eq!(normalize_encoding(name), expected, "{name}");
        }
        assert!(decode(b"# coding: latin\ns = '\xe9'\n").unwrap().contains('\u{e9}'));
        assert!(decode(b"# coding: ascii\ns = '\xe9'\n").is_err());
    }
}
