//! Source bytes → text (as CPython decodes it) → top-level import statements.
//!
//! Decoding follows PEP 263 and `tokenize.detect_encoding`: a UTF-8 BOM, or a
//! coding cookie on the first line (or the second, when the first is blank or
//! a comment), else UTF-8. Parsing uses Ruff's parser; only statements of the
//! module body are inspected.

use std::borrow::Cow;

use ruff_python_ast::token::TokenKind;
use ruff_python_ast::{PythonVersion, Stmt};
use ruff_python_parser::{parse_unchecked, Mode, ParseErrorType, ParseOptions};
use ruff_text_size::{Ranged, TextSize};

use crate::imports::{Alias, ImportStmt};

/// Why a source file could not be analysed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// The bytes are not text in the declared (or default) encoding.
    #[error("{message}")]
    Decode { message: String, line: u32 },
    /// The text is not valid Python for the target version.
    #[error("{message}")]
    Syntax { message: String, line: u32, column: u32 },
}

impl SourceError {
    pub fn line(&self) -> u32 {
        match self {
            SourceError::Decode { line, .. } | SourceError::Syntax { line, .. } => *line,
        }
    }
}

/// The result of analysing one source text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Analysis {
    /// Top-level import statements, in source order.
    pub imports: Vec<ImportStmt>,
    /// The first top-level statement that is not an import: its line and text.
    pub first_other: Option<(u32, String)>,
}

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
struct InvalidUtf8 {
    /// Offset of the replacement character in the decoded text.
    text_offset: usize,
    /// The error CPython reports if it has to decode these bytes.
    error: SourceError,
}

/// Decode like [`decode`], except that in UTF-8 source (no cookie, or one
/// whose normal name is `utf-8`) bytes that are not UTF-8 are replaced by
/// U+FFFD and listed: CPython decodes such source lazily, token by token, so
/// they are an error only outside comments (see [`analyze_bytes`]).
fn decode_lenient(bytes: &[u8]) -> Result<(Cow<'_, str>, Vec<InvalidUtf8>), SourceError> {
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
fn line_at(prefix: &[u8]) -> u32 {
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

/// Incremental byte-offset → line conversion for increasing offsets.
struct LineCursor<'a> {
    text: &'a [u8],
    offset: usize,
    line: u32,
}

impl<'a> LineCursor<'a> {
    fn new(text: &'a str) -> Self {
        LineCursor { text: text.as_bytes(), offset: 0, line: 1 }
    }

    fn line_of(&mut self, offset: TextSize) -> u32 {
        let target = usize::from(offset).min(self.text.len());
        if target < self.offset {
            self.offset = 0;
            self.line = 1;
        }
        let mut i = self.offset;
        while i < target {
            match self.text[i] {
                b'\n' => self.line += 1,
                b'\r' if self.text.get(i + 1) != Some(&b'\n') => self.line += 1,
                _ => {}
            }
            i += 1;
        }
        self.offset = target;
        self.line
    }
}

/// Parse `text` and collect its top-level imports. `version` is the Python
/// version whose grammar applies (`(3, 11)`), so syntax newer than the running
/// interpreter is rejected as CPython would.
pub fn analyze_text(text: &str, version: (u8, u8)) -> Result<Analysis, SourceError> {
    analyze_decoded(text, version, &[])
}

/// [`analyze_text`] for text decoded with replacements: each replacement must
/// lie in a comment, where CPython never decodes (it is an error elsewhere).
fn analyze_decoded(text: &str, version: (u8, u8), invalid: &[InvalidUtf8]) -> Result<Analysis, SourceError> {
    on_deep_stack(text.len(), || analyze_decoded_here(text, version, invalid))
}

/// Sources up to this size are parsed on the calling thread.
const INLINE_PARSE_LIMIT: usize = 16 * 1024;
/// Stack to reserve per byte of a larger source. Ruff's parser recurses once
/// per nesting level (and so does dropping the tree), a level costs well under
/// 128 bytes of stack and takes at least one byte of source: a deep enough
/// expression (`x = [[[...]]]`, `-----1`, `a.a.a...`, about 150,000 levels on
/// an 8 MiB stack) would otherwise overflow the stack and kill the process,
/// where CPython raises an exception.
const PARSE_STACK_PER_BYTE: usize = 128;
const PARSE_STACK_MIN: usize = 16 << 20;
const PARSE_STACK_MAX: usize = 1 << 30;

/// Run `parse` (for a source of `len` bytes) on a thread whose stack is large
/// enough for any nesting the source can hold (the pages are reserved, not
/// used). Small sources run inline.
fn on_deep_stack(
    len: usize,
    parse: impl FnOnce() -> Result<Analysis, SourceError> + Send,
) -> Result<Analysis, SourceError> {
    if len <= INLINE_PARSE_LIMIT {
        return parse();
    }
    let size = len.saturating_mul(PARSE_STACK_PER_BYTE).clamp(PARSE_STACK_MIN, PARSE_STACK_MAX);
    std::thread::scope(|scope| {
        let thread = std::thread::Builder::new().name("liveimport-parse".into()).stack_size(size);
        match thread.spawn_scoped(scope, parse) {
            Ok(handle) => handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            Err(error) => Err(SourceError::Syntax {
                message: format!("cannot analyse the source: no thread for the parser ({error})"),
                line: 1,
                column: 0,
            }),
        }
    })
}

fn analyze_decoded_here(
    text: &str,
    version: (u8, u8),
    invalid: &[InvalidUtf8],
) -> Result<Analysis, SourceError> {
    if let Some(pos) = text.find('\0') {
        return Err(SourceError::Syntax {
            message: "source code string cannot contain null bytes".into(),
            line: line_at(&text.as_bytes()[..pos]),
            column: 0,
        });
    }
    // Ruff skips a leading U+FEFF; CPython only strips a BOM from bytes, once.
    if text.starts_with('\u{feff}') {
        return Err(SourceError::Syntax {
            message: "invalid non-printable character U+FEFF".into(),
            line: 1,
            column: 1,
        });
    }
    // Up to 3.11, CPython's `translate_newlines` appends a newline after a
    // final `\r\n`, so a file ending in a backslash and CRLF is accepted.
    let extended;
    let text = if version < (3, 12) && text.ends_with("\\\r\n") {
        extended = format!("{text}\n");
        extended.as_str()
    } else {
        text
    };
    let options = ParseOptions::from(Mode::Module)
        .with_target_version(PythonVersion { major: version.0, minor: version.1 });
    let mut parsed = parse_unchecked(text, options.clone());
    let mut renamed = None;
    // Each pass renames at least one `match`; error recovery may hide some.
    while let Some(next) = rename_match_after_semicolon(renamed.as_deref().unwrap_or(text), &parsed) {
        parsed = parse_unchecked(&next, options.clone());
        renamed = Some(next);
    }
    let mut cursor = LineCursor::new(text);
    let first_error = parsed
        .errors()
        .iter()
        .map(|e| (e.location.start(), e.error.to_string()))
        .chain(parsed.unsupported_syntax_errors().iter().map(|e| (e.range.start(), e.to_string())))
        .min_by_key(|(start, _)| *start);
    if let Some(bad) = first_outside_comments(&parsed, invalid) {
        if first_error.as_ref().is_none_or(|(start, _)| bad.text_offset <= usize::from(*start)) {
            return Err(bad.error.clone());
        }
    }
    if let Some((start, message)) = first_error {
        let line = LineCursor::new(text).line_of(start);
        let line_start = text[..usize::from(start)].rfind(['\n', '\r']).map_or(0, |i| i + 1);
        let column = text[line_start..usize::from(start)].chars().count() as u32 + 1;
        return Err(SourceError::Syntax { message, line, column });
    }
    let Some(module) = parsed.syntax().as_module() else {
        return Ok(Analysis::default());
    };
    let mut analysis = Analysis::default();
    for stmt in &module.body {
        match stmt {
            Stmt::Import(node) => analysis.imports.push(ImportStmt {
                line: cursor.line_of(node.start()),
                from_import: false,
                module: None,
                level: 0,
                names: node.names.iter().map(alias).collect(),
            }),
            Stmt::ImportFrom(node) => analysis.imports.push(ImportStmt {
                line: cursor.line_of(node.start()),
                from_import: true,
                module: node.module.as_ref().map(|m| m.as_str().to_owned()),
                level: node.level,
                names: node.names.iter().map(alias).collect(),
            }),
            other if analysis.first_other.is_none() => {
                let line = cursor.line_of(other.start());
                analysis.first_other = Some((line, text[other.range()].to_owned()));
            }
            _ => {}
        }
    }
    Ok(analysis)
}

/// Ruff's parser rejects a statement that starts with the soft keyword
/// `match` after a semicolon (`x; match = 1`) as a compound statement on the
/// line of a simple one; CPython accepts it: no compound statement may follow
/// `;`, so there `match` can only be a name. Returns `text` with each such
/// `match` spelled as another name of the same length (offsets, lines and
/// imports unchanged), or `None` if there is none.
fn rename_match_after_semicolon<T>(text: &str, parsed: &ruff_python_parser::Parsed<T>) -> Option<String> {
    let mut renamed: Option<String> = None;
    for error in parsed.errors() {
        let range = std::ops::Range::<usize>::from(error.location);
        if matches!(error.error, ParseErrorType::SimpleAndCompoundStatementOnSameLine)
            && text.get(range.clone()) == Some("match")
        {
            renamed.get_or_insert_with(|| text.to_owned()).replace_range(range, "matc_");
        }
    }
    renamed
}

/// The first replacement of invalid UTF-8 that is not inside a comment.
fn first_outside_comments<'a, T>(
    parsed: &ruff_python_parser::Parsed<T>,
    invalid: &'a [InvalidUtf8],
) -> Option<&'a InvalidUtf8> {
    if invalid.is_empty() {
        return None;
    }
    let comments: Vec<_> =
        parsed.tokens().iter().filter(|t| t.kind() == TokenKind::Comment).map(|t| t.range()).collect();
    invalid.iter().find(|bad| {
        let at = TextSize::new(u32::try_from(bad.text_offset).unwrap_or(u32::MAX));
        let i = comments.partition_point(|range| range.end() <= at);
        comments.get(i).is_none_or(|range| !range.contains(at))
    })
}

fn alias(alias: &ruff_python_ast::Alias) -> Alias {
    Alias {
        name: alias.name.as_str().to_owned(),
        asname: alias.asname.as_ref().map(|a| a.as_str().to_owned()),
    }
}

/// Decode and analyse a source file's bytes.
///
/// Like CPython, bytes that are not UTF-8 in UTF-8 source are accepted in
/// comments (CPython never decodes a comment) and rejected elsewhere.
pub fn analyze_bytes(bytes: &[u8], version: (u8, u8)) -> Result<Analysis, SourceError> {
    // CPython refuses null bytes before it decodes anything.
    if let Some(pos) = bytes.iter().position(|&b| b == 0) {
        return Err(SourceError::Syntax {
            message: "source code string cannot contain null bytes".into(),
            line: line_at(&bytes[..pos]),
            column: 0,
        });
    }
    let (text, invalid) = decode_lenient(bytes)?;
    analyze_decoded(&text, version, &invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    const V: (u8, u8) = (3, 11);

    #[allow(clippy::type_complexity)]
    fn imports(src: &str) -> Vec<(u32, bool, Option<String>, u32, Vec<(String, Option<String>)>)> {
        analyze_text(src, V)
            .expect("parses")
            .imports
            .into_iter()
            .map(|s| {
                (
                    s.line,
                    s.from_import,
                    s.module,
                    s.level,
                    s.names.into_iter().map(|a| (a.name, a.asname)).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn extracts_only_top_level_imports_with_lines() {
        let src = "import a.b as x, c\nif x:\n    import nested\nfrom ..p import (q,\n  r as s)\n\ndef f():\n    import inner\nimport d; import e\n";
        let got = imports(src);
        assert_eq!(got.len(), 4);
        assert_eq!(got[0].0, 1);
        assert_eq!(got[0].4, vec![("a.b".into(), Some("x".into())), ("c".into(), None)]);
        assert_eq!(
            got[1],
            (4, true, Some("p".into()), 2, vec![("q".into(), None), ("r".into(), Some("s".into()))])
        );
        assert_eq!(got[2].0, 9);
        assert_eq!(got[3].0, 9);
    }

    #[test]
    fn counts_crlf_and_lone_cr_as_line_ends() {
        let got = imports("x = 1\r\nimport a\rimport b\n");
        assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), [2, 3]);
    }

    #[test]
    fn reports_first_other_statement() {
        let analysis = analyze_text("import a\nx = 1\nimport b\n", V).expect("parses");
        assert_eq!(analysis.first_other, Some((2, "x = 1".into())));
    }

    #[test]
    fn syntax_errors_carry_lines() {
        let err = analyze_text("import a\ndef f(:\n", V).unwrap_err();
        assert_eq!(err.line(), 2);
        assert!(matches!(err, SourceError::Syntax { .. }));
    }

    #[test]
    fn newer_syntax_is_rejected_for_older_targets() {
        assert!(analyze_text("type X = int\n", (3, 11)).is_err());
        assert!(analyze_text("type X = int\n", (3, 12)).is_ok());
        assert!(analyze_text("try:\n    pass\nexcept* E:\n    pass\n", (3, 10)).is_err());
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
    fn invalid_utf8_is_accepted_in_comments_only() {
        // CPython decodes UTF-8 source token by token and never decodes a
        // comment; an explicit `utf8` cookie decodes the whole file strictly.
        let ok = |b: &[u8]| analyze_bytes(b, V).map(|a| a.imports.len());
        assert_eq!(ok(b"# caf\xe9\nimport a\n"), Ok(1));
        assert_eq!(ok(b"import a  # caf\xe9\r\nimport b\n"), Ok(2));
        assert_eq!(ok(b"\xef\xbb\xbf# \xff\nimport a\n"), Ok(1));
        assert_eq!(ok(b"# coding: utf-8\n# \xc3\nimport a\n"), Ok(1));
        assert!(ok(b"# coding: utf8\n# caf\xe9\nimport a\n").is_err());
        for bad in [&b"s = 'caf\xe9'\n"[..], b"caf\xe9 = 1\n", b"s = b'\xe9'\n", b"import a\n\xff\n"] {
            let err = analyze_bytes(bad, V).unwrap_err();
            assert!(matches!(err, SourceError::Decode { .. } | SourceError::Syntax { .. }), "{err:?}");
        }
        let err = analyze_bytes(b"import a\nx = '\xe9'\n", V).unwrap_err();
        assert!(matches!(err, SourceError::Decode { line: 2, .. }), "{err:?}");
        // The strict decoder still refuses them.
        assert!(decode(b"# caf\xe9\n").is_err());
    }

    #[test]
    fn cookies_follow_cr_and_crlf_line_ends() {
        // CPython translates `\r` and `\r\n` to `\n` before looking for a cookie.
        assert!(decode(b"\x0c\r# coding: latin-1\rs = '\xe9'\r").unwrap().contains('\u{e9}'));
        assert!(decode(b"#!x\r\n# coding: latin-1\r\ns = '\xe9'\r\n").unwrap().contains('\u{e9}'));
        assert!(decode(b"x = 1\r# coding: latin-1\rs = '\xe9'\r").is_err());
    }

    #[test]
    fn leading_feff_after_the_bom_is_rejected() {
        assert!(analyze_bytes(b"\xef\xbb\xbfimport a\n", V).is_ok());
        assert!(analyze_bytes(b"\xef\xbb\xbf\xef\xbb\xbfimport a\n", V).is_err());
        assert!(analyze_text("\u{feff}import a\n", V).is_err());
    }

    #[test]
    fn final_backslash_crlf_is_accepted_before_3_12() {
        assert!(analyze_text("x = 1\\\r\n", (3, 11)).is_ok());
        assert!(analyze_text("x = 1\\\r\n", (3, 12)).is_err());
        assert!(analyze_text("x = 1\\\n", (3, 11)).is_err());
        assert!(analyze_text("x = 1\\\r", (3, 11)).is_err());
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

    #[test]
    fn match_as_a_name_after_a_semicolon() {
        // Ruff rejects these; CPython accepts them (`match` is a name there).
        assert_eq!(imports("x; match = 1\nimport a\n").len(), 1);
        assert_eq!(imports("import a; match(x); match.y = 2\n").len(), 1);
        let analysis = analyze_text("import a; match = 1\n", V).expect("parses");
        assert_eq!(analysis.first_other, Some((1, "match = 1".into())));
        // A match statement cannot follow a semicolon, in either parser.
        assert!(analyze_text("x; match y:\n    case 1:\n        pass\n", V).is_err());
    }

    #[test]
    fn deep_nesting_does_not_overflow_the_stack() {
        // Parsed inline, each of these overflows a test thread's 2 MiB stack
        // and kills the process (at a million levels, even an 8 MiB main
        // thread's). CPython rejects them with an exception (too many nested
        // parentheses, MemoryError, RecursionError); the engine must return.
        let n = 200_000;
        for (open, close) in [("[", "]"), ("-", "1"), ("1+", "1"), ("a.", "a"), ("not ", "1"), ("2**", "1")] {
            let source =
                format!("x = {}{}\n", open.repeat(n), close.repeat(if close == "]" { n } else { 1 }));
            let _ = analyze_text(&source, V);
        }
    }

    #[test]
    fn null_bytes_are_rejected() {
        // Before decoding, as CPython does: even where a codec would not see one.
        assert!(analyze_bytes(b"# coding: utf-16\nimport a\n\0", V).is_err());
        assert!(analyze_text("import a\n\0", V).is_err());
    }
}
