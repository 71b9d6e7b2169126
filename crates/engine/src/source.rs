//! Source bytes → text (as CPython decodes it) → top-level import statements.
//!
//! Decoding follows PEP 263 and `tokenize.detect_encoding`: a UTF-8 BOM, or a
//! coding cookie on the first line (or the second, when the first is blank or
//! a comment), else UTF-8. Parsing uses Ruff's parser; only statements of the
//! module body are inspected.

use std::borrow::Cow;

use ruff_python_ast::{PythonVersion, Stmt};
use ruff_python_parser::{parse_unchecked, Mode, ParseOptions};
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

/// Decode source bytes the way CPython's tokenizer does.
pub fn decode(bytes: &[u8]) -> Result<Cow<'_, str>, SourceError> {
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
    match encoding.as_str() {
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
    }
}

/// The coding cookie of the first two lines, with its 1-based line.
fn find_cookie(bytes: &[u8]) -> Option<(String, u32)> {
    let mut rest = bytes;
    for line_no in 1..=2u32 {
        if rest.is_empty() {
            return None;
        }
        let end = rest.iter().position(|&b| b == b'\n').map_or(rest.len(), |i| i + 1);
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

/// Normalise a codec name like `tokenize._get_normal_name` plus the codec
/// registry's aliasing that matters for source files.
fn normalize_encoding(name: &str) -> String {
    let lower = name.to_ascii_lowercase().replace('_', "-");
    let head: String = lower.chars().take(12).collect();
    if head == "utf-8" || head.starts_with("utf-8-") || lower == "utf8" {
        return "utf-8".into();
    }
    for latin in ["latin-1", "iso-8859-1", "iso-latin-1", "latin1", "iso8859-1", "l1"] {
        if lower == latin || lower.starts_with(&format!("{latin}-")) {
            return "iso-8859-1".into();
        }
    }
    match lower.as_str() {
        "ascii" | "us-ascii" | "646" => "ascii".into(),
        _ => lower,
    }
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
    if let Some(pos) = text.find('\0') {
        return Err(SourceError::Syntax {
            message: "source code string cannot contain null bytes".into(),
            line: line_at(&text.as_bytes()[..pos]),
            column: 0,
        });
    }
    let options = ParseOptions::from(Mode::Module)
        .with_target_version(PythonVersion { major: version.0, minor: version.1 });
    let parsed = parse_unchecked(text, options);
    let mut cursor = LineCursor::new(text);
    let first_error = parsed
        .errors()
        .iter()
        .map(|e| (e.location.start(), e.error.to_string()))
        .chain(parsed.unsupported_syntax_errors().iter().map(|e| (e.range.start(), e.to_string())))
        .min_by_key(|(start, _)| *start);
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

fn alias(alias: &ruff_python_ast::Alias) -> Alias {
    Alias {
        name: alias.name.as_str().to_owned(),
        asname: alias.asname.as_ref().map(|a| a.as_str().to_owned()),
    }
}

/// Decode and analyse a source file's bytes.
pub fn analyze_bytes(bytes: &[u8], version: (u8, u8)) -> Result<Analysis, SourceError> {
    analyze_text(&decode(bytes)?, version)
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
    fn null_bytes_are_rejected() {
        assert!(analyze_text("import a\n\0", V).is_err());
    }
}
