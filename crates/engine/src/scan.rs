//! A fast reading of the imports a module runs at import time, for sources
//! known to compile: a scan of the token stream instead of a full parse.
//!
//! It finds what [`crate::source::analyze_module`] finds (the imports of the
//! module body and of top-level `try`/`if`/`with` blocks, nested in one
//! another, except the body of `if TYPE_CHECKING:` and nothing inside
//! `def`/`class`; the same lines, names, aliases and levels), and it
//! declines (`None`) whenever it cannot be sure: non-ASCII names in an
//! import, a `TYPE_CHECKING` test of another shape, `lambda` in a block
//! header, anything the lexer does not expect. It does not look for syntax
//! errors: it is used only for sources that CPython compiled (their bytecode
//! header matches the file) or whose analysis is already known, and the full
//! parse handles everything else (`tests/test_scanner_differential.py` holds
//! it to the full parse on the standard library and generated sources).

use crate::decode::decode_lenient;
use crate::imports::{Alias, ImportStmt, KEYWORDS};

/// The imports `bytes` (a module's source) runs at import time, or `None`
/// when the scanner cannot decide.
pub fn scan_module(bytes: &[u8]) -> Option<Vec<ImportStmt>> {
    if bytes.contains(&0) {
        return None;
    }
    let (text, invalid) = decode_lenient(bytes).ok()?;
    if !invalid.is_empty() || text.starts_with('\u{feff}') {
        return None;
    }
    scan_text(&text)
}

/// [`scan_module`] for decoded text.
pub fn scan_text(text: &str) -> Option<Vec<ImportStmt>> {
    let mut lexer = Lexer { b: text.as_bytes(), i: 0, line: 1, depth: 0 };
    let mut blocks =
        Blocks { text, stack: vec![Block { indent: -1, runs: true, last: None }], out: Vec::new() };
    let mut tokens = Vec::new();
    while let Some(indent) = lexer.indentation()? {
        tokens.clear();
        if blocks.enter(indent) {
            lexer.logical_line(&mut tokens)?;
            blocks.line(indent, &tokens)?;
        } else {
            // Inside `def`, `class`, … only a header (a line ending with a
            // colon) matters: it opens a block to leave later.
            if lexer.skip_line()? {
                blocks.stack.push(Block { indent, runs: false, last: None });
            }
        }
    }
    Some(blocks.out)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// An identifier or keyword.
    Name,
    Dot,
    /// `...`
    Ellipsis,
    Colon,
    Semi,
    Comma,
    Star,
    Open,
    Close,
    /// A string or number.
    Atom,
    /// Any other operator or delimiter.
    Op,
}

#[derive(Clone, Copy, Debug)]
struct Tok {
    kind: Kind,
    start: usize,
    end: usize,
    line: u32,
    /// Bracket depth outside the token.
    depth: u32,
}

/// How [`Lexer::skip_line`] sees a byte.
const SPACE: u8 = 0;
/// Part of a token that does not matter to the line's structure.
const PLAIN: u8 = 1;
/// A quote, bracket, colon, comment, backslash or line end.
const SPECIAL: u8 = 2;
/// A byte [`Lexer::logical_line`] declines (a control character, DEL).
const DECLINE: u8 = 3;

const BYTE_CLASS: [u8; 256] = {
    let mut class = [PLAIN; 256];
    let mut c = 0;
    while c < 0x21 {
        class[c] = DECLINE;
        c += 1;
    }
    class[0x7f] = DECLINE;
    class[b' ' as usize] = SPACE;
    class[b'\t' as usize] = SPACE;
    let special = b"'\"#\\\n\r()[]{}:";
    let mut i = 0;
    while i < special.len() {
        class[special[i] as usize] = SPECIAL;
        i += 1;
    }
    class
};

/// Nested f-strings deeper than this are left to the parser.
const MAX_NESTING: u32 = 32;

struct Lexer<'a> {
    b: &'a [u8],
    i: usize,
    line: u32,
    depth: u32,
}

fn is_name_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c >= 0x80
}

fn is_name_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80
}

/// A string prefix (`rb`, `f`, …) and what it means: (raw, interpolated).
fn string_prefix(name: &[u8]) -> Option<(bool, bool)> {
    if name.len() > 2 {
        return None;
    }
    let mut raw = false;
    let mut interpolated = false;
    let mut bytes = false;
    let mut unicode = false;
    for &c in name {
        match c.to_ascii_lowercase() {
            b'r' if !raw => raw = true,
            b'f' | b't' if !interpolated => interpolated = true,
            b'b' if !bytes => bytes = true,
            b'u' if !unicode => unicode = true,
            _ => return None,
        }
    }
    let fine = match (unicode, bytes, interpolated) {
        (true, _, _) => name.len() == 1,
        (_, true, true) => false,
        _ => true,
    };
    fine.then_some((raw, interpolated))
}

impl Lexer<'_> {
    fn peek(&self, ahead: usize) -> u8 {
        self.b.get(self.i + ahead).copied().unwrap_or(0)
    }

    fn at_end(&self) -> bool {
        self.i >= self.b.len()
    }

    /// Consume a line end (`\n`, `\r\n` or a lone `\r`) if there is one.
    fn newline(&mut self) -> bool {
        match self.peek(0) {
            b'\n' => self.i += 1,
            b'\r' if self.peek(1) == b'\n' => self.i += 2,
            b'\r' => self.i += 1,
            _ => return false,
        }
        self.line += 1;
        true
    }

    fn skip_comment(&mut self) {
        while !self.at_end() && !matches!(self.b[self.i], b'\n' | b'\r') {
            self.i += 1;
        }
    }

    /// Skip blank and comment-only lines; the indentation of the next
    /// logical line, `Some(None)` at the end, `None` to decline.
    fn indentation(&mut self) -> Option<Option<i64>> {
        loop {
            let mut column: i64 = 0;
            loop {
                match self.peek(0) {
                    b' ' => column += 1,
                    b'\t' => column = (column / 8 + 1) * 8,
                    b'\x0c' => return None,
                    _ => break,
                }
                self.i += 1;
            }
            if self.at_end() {
                return Some(None);
            }
            match self.b[self.i] {
                b'#' => self.skip_comment(),
                b'\n' | b'\r' => {}
                b'\\' => return None,
                _ => return Some(Some(column)),
            }
            if !self.newline() {
                return Some(None);
            }
        }
    }

    /// Skip one logical line whose tokens do not matter (inside a `def` or
    /// a `class`): whether its last token is a colon outside brackets (a
    /// block header). The same verdicts as [`Lexer::logical_line`], without
    /// lexing what lies between quotes, brackets, colons and line ends:
    /// most lines of most modules are skipped.
    fn skip_line(&mut self) -> Option<bool> {
        let mut colon = false;
        loop {
            // Up to the next byte that matters.
            while let Some(&c) = self.b.get(self.i) {
                match BYTE_CLASS[c as usize] {
                    SPACE => {}
                    PLAIN => colon = false,
                    SPECIAL => break,
                    _ => return None,
                }
                self.i += 1;
            }
            if self.at_end() {
                return (self.depth == 0).then_some(colon);
            }
            match self.b[self.i] {
                b'#' => self.skip_comment(),
                b'\n' | b'\r' => {
                    self.newline();
                    if self.depth == 0 {
                        return Some(colon);
                    }
                }
                b'\\' => {
                    self.i += 1;
                    if !self.newline() {
                        return None;
                    }
                }
                b'"' | b'\'' => {
                    // Its prefix: the name characters right before it (the
                    // token `logical_line` would have lexed, or one it
                    // would take as no prefix either).
                    let mut start = self.i;
                    while start > 0 && is_name_char(self.b[start - 1]) {
                        start -= 1;
                    }
                    let (raw, interpolated) = string_prefix(&self.b[start..self.i]).unwrap_or((false, false));
                    self.string(raw, interpolated, 0)?;
                    colon = false;
                }
                b'(' | b'[' | b'{' => {
                    self.i += 1;
                    self.depth += 1;
                    colon = false;
                }
                b')' | b']' | b'}' => {
                    self.i += 1;
                    self.depth = self.depth.checked_sub(1)?;
                    colon = false;
                }
                _ => {
                    // A colon, or the walrus operator.
                    let walrus = self.peek(1) == b'=';
                    self.i += if walrus { 2 } else { 1 };
                    colon = !walrus && self.depth == 0;
                }
            }
        }
    }

    /// The tokens of one logical line, up to and including its end (pushed
    /// to `out`); its last token.
    fn logical_line(&mut self, out: &mut Vec<Tok>) -> Option<Option<Tok>> {
        let mut last = None;
        loop {
            while matches!(self.peek(0), b' ' | b'\t') {
                self.i += 1;
            }
            if self.at_end() {
                return (self.depth == 0).then_some(last);
            }
            let start = self.i;
            let line = self.line;
            let depth = self.depth;
            let c = self.b[self.i];
            let kind = match c {
                b'#' => {
                    self.skip_comment();
                    continue;
                }
                b'\n' | b'\r' => {
                    self.newline();
                    if self.depth == 0 {
                        return Some(last);
                    }
                    continue;
                }
                b'\\' => {
                    self.i += 1;
                    if !self.newline() {
                        return None;
                    }
                    continue;
                }
                _ if is_name_start(c) => {
                    while self.i < self.b.len() && is_name_char(self.b[self.i]) {
                        self.i += 1;
                    }
                    match (self.peek(0), string_prefix(&self.b[start..self.i])) {
                        (b'"' | b'\'', Some((raw, interpolated))) => {
                            self.string(raw, interpolated, 0)?;
                            Kind::Atom
                        }
                        _ => Kind::Name,
                    }
                }
                b'"' | b'\'' => {
                    self.string(false, false, 0)?;
                    Kind::Atom
                }
                b'0'..=b'9' => {
                    self.number();
                    Kind::Atom
                }
                b'.' if self.peek(1).is_ascii_digit() => {
                    self.number();
                    Kind::Atom
                }
                b'.' if self.peek(1) == b'.' && self.peek(2) == b'.' => {
                    self.i += 3;
                    Kind::Ellipsis
                }
                b'.' => {
                    self.i += 1;
                    Kind::Dot
                }
                b'(' | b'[' | b'{' => {
                    self.i += 1;
                    self.depth += 1;
                    Kind::Open
                }
                b')' | b']' | b'}' => {
                    self.i += 1;
                    self.depth = self.depth.checked_sub(1)?;
                    Kind::Close
                }
                b':' if self.peek(1) == b'=' => {
                    self.i += 2;
                    Kind::Op
                }
                b':' => {
                    self.i += 1;
                    Kind::Colon
                }
                b';' => {
                    self.i += 1;
                    Kind::Semi
                }
                b',' => {
                    self.i += 1;
                    Kind::Comma
                }
                b'*' if !matches!(self.peek(1), b'*' | b'=') => {
                    self.i += 1;
                    Kind::Star
                }
                b'!'..=b'~' => {
                    self.i += 1;
                    Kind::Op
                }
                _ => return None,
            };
            let tok = Tok { kind, start, end: self.i, line, depth };
            out.push(tok);
            last = Some(tok);
        }
    }

    /// A number: its digits, letters, underscores and dots (an exponent's
    /// sign lexes as an operator, which changes nothing here).
    fn number(&mut self) {
        while self.i < self.b.len() && (is_name_char(self.b[self.i]) || self.b[self.i] == b'.') {
            if self.b[self.i] >= 0x80 {
                break;
            }
            self.i += 1;
        }
    }

    /// A string whose prefix was consumed; at its opening quote.
    fn string(&mut self, raw: bool, interpolated: bool, nesting: u32) -> Option<()> {
        let quote = self.peek(0);
        let triple = self.peek(1) == quote && self.peek(2) == quote;
        self.i += if triple { 3 } else { 1 };
        if interpolated {
            self.interpolated_body(quote, triple, raw, nesting)
        } else {
            self.plain_body(quote, triple)
        }
    }

    /// Whether the string's closing quote(s) start here.
    fn closes(&self, quote: u8, triple: bool) -> bool {
        self.peek(0) == quote && (!triple || (self.peek(1) == quote && self.peek(2) == quote))
    }

    fn close(&mut self, triple: bool) {
        self.i += if triple { 3 } else { 1 };
    }

    /// A backslash and the character it escapes (a line end counts).
    fn escape(&mut self) -> Option<()> {
        self.i += 1;
        if self.at_end() {
            return None;
        }
        if !self.newline() {
            self.i += 1;
        }
        Some(())
    }

    fn plain_body(&mut self, quote: u8, triple: bool) -> Option<()> {
        loop {
            if self.at_end() {
                return None;
            }
            match self.b[self.i] {
                b'\\' => self.escape()?,
                c if c == quote && self.closes(quote, triple) => {
                    self.close(triple);
                    return Some(());
                }
                b'\n' | b'\r' => {
                    if !triple {
                        return None;
                    }
                    self.newline();
                }
                _ => self.i += 1,
            }
        }
    }

    /// The literal part of an f- or t-string, with its replacement fields.
    fn interpolated_body(&mut self, quote: u8, triple: bool, raw: bool, nesting: u32) -> Option<()> {
        if nesting > MAX_NESTING {
            return None;
        }
        loop {
            if self.at_end() {
                return None;
            }
            match self.b[self.i] {
                b'\\' => match self.peek(1) {
                    // A backslash before a brace is itself: the brace opens
                    // or closes a field.
                    b'{' | b'}' => self.i += 1,
                    b'N' if !raw && self.peek(2) == b'{' => {
                        // A named escape: `\N{EM DASH}`.
                        while !self.at_end() && self.b[self.i] != b'}' {
                            if matches!(self.b[self.i], b'\n' | b'\r') || self.b[self.i] == quote {
                                return None;
                            }
                            self.i += 1;
                        }
                        self.i += 1;
                    }
                    _ => self.escape()?,
                },
                c if c == quote && self.closes(quote, triple) => {
                    self.close(triple);
                    return Some(());
                }
                b'\n' | b'\r' => {
                    if !triple {
                        return None;
                    }
                    self.newline();
                }
                b'{' if self.peek(1) == b'{' => self.i += 2,
                b'{' => {
                    self.i += 1;
                    self.field(quote, triple, raw, nesting + 1)?;
                }
                b'}' if self.peek(1) == b'}' => self.i += 2,
                b'}' => return None,
                _ => self.i += 1,
            }
        }
    }

    /// A replacement field's expression, conversion and format spec, up to
    /// and including its closing brace.
    fn field(&mut self, quote: u8, triple: bool, raw: bool, nesting: u32) -> Option<()> {
        if nesting > MAX_NESTING {
            return None;
        }
        let mut depth: u32 = 0;
        loop {
            if self.at_end() {
                return None;
            }
            let c = self.b[self.i];
            match c {
                b'\n' | b'\r' => {
                    self.newline();
                }
                b'#' | b'\\' => return None,
                b'"' | b'\'' => self.string(false, false, nesting)?,
                _ if is_name_start(c) => {
                    let start = self.i;
                    while self.i < self.b.len() && is_name_char(self.b[self.i]) {
                        self.i += 1;
                    }
                    if let (b'"' | b'\'', Some((raw, interpolated))) =
                        (self.peek(0), string_prefix(&self.b[start..self.i]))
                    {
                        self.string(raw, interpolated, nesting)?;
                    }
                }
                b'(' | b'[' | b'{' => {
                    depth += 1;
                    self.i += 1;
                }
                b')' | b']' => {
                    depth = depth.checked_sub(1)?;
                    self.i += 1;
                }
                b'}' => {
                    self.i += 1;
                    if depth == 0 {
                        return Some(());
                    }
                    depth -= 1;
                }
                b'!' if self.peek(1) == b'=' => self.i += 2,
                b':' if depth == 0 => {
                    self.i += 1;
                    return self.format_spec(quote, triple, raw, nesting);
                }
                _ => self.i += 1,
            }
        }
    }

    /// A format spec (after the field's `:`), up to and including the
    /// field's closing brace.
    fn format_spec(&mut self, quote: u8, triple: bool, raw: bool, nesting: u32) -> Option<()> {
        loop {
            if self.at_end() {
                return None;
            }
            match self.b[self.i] {
                b'{' => {
                    self.i += 1;
                    self.field(quote, triple, raw, nesting + 1)?;
                }
                b'}' => {
                    self.i += 1;
                    return Some(());
                }
                b'\\' => return None,
                c if c == quote && (!triple || self.closes(quote, triple)) => return None,
                b'\n' | b'\r' => {
                    if !triple {
                        return None;
                    }
                    self.newline();
                }
                _ => self.i += 1,
            }
        }
    }
}

/// The compound statement a block belongs to, for its clauses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Owner {
    If,
    Try,
    With,
    /// `for` and `while`: their `else` is skipped with them.
    Loop,
    /// `def`, `class`, `match`: no clauses.
    Other,
}

#[derive(Clone, Copy, Debug)]
struct Block {
    /// The indentation of the header that opened it (-1: the module).
    indent: i64,
    /// Whether its statements run at import time (as far as imports count).
    runs: bool,
    /// The compound statement last seen directly in this block.
    last: Option<Owner>,
}

struct Blocks<'a> {
    text: &'a str,
    stack: Vec<Block>,
    out: Vec<ImportStmt>,
}

impl Blocks<'_> {
    fn text(&self, tok: &Tok) -> &str {
        &self.text[tok.start..tok.end]
    }

    fn is(&self, tok: Option<&Tok>, word: &str) -> bool {
        tok.is_some_and(|t| t.kind == Kind::Name && self.text(t) == word)
    }

    /// A logical line at indentation `indent` begins: leave the blocks it
    /// is not in. Whether its imports (and headers) matter.
    fn enter(&mut self, indent: i64) -> bool {
        while self.stack.len() > 1 && self.stack.last().is_some_and(|b| b.indent >= indent) {
            self.stack.pop();
        }
        self.stack.last().is_some_and(|b| b.runs)
    }

    /// One logical line at indentation `indent`, in a block that runs.
    fn line(&mut self, indent: i64, toks: &[Tok]) -> Option<()> {
        let top = *self.stack.last()?;
        let Some(first) = toks.first().copied() else { return Some(()) };
        // A simple statement never ends with a colon: a line that does is a
        // block header, and its body follows, indented.
        let ends_with_colon = toks.last().is_some_and(|t| t.kind == Kind::Colon && t.depth == 0);
        let word = if first.kind == Kind::Name { self.text(&first) } else { "" };
        // (owner for later clauses, whether this clause's body runs)
        let (owner, runs) = match word {
            "if" => (Owner::If, !self.type_checking(&toks[1..self.header_colon(toks)?])?),
            "elif" => {
                if top.last != Some(Owner::If) {
                    return None;
                }
                (Owner::If, !self.type_checking(&toks[1..self.header_colon(toks)?])?)
            }
            "else" => match top.last {
                Some(owner @ (Owner::If | Owner::Try)) => (owner, true),
                Some(Owner::Loop) => (Owner::Loop, false),
                _ => return None,
            },
            "try" => (Owner::Try, true),
            "except" | "finally" => {
                if top.last != Some(Owner::Try) {
                    return None;
                }
                (Owner::Try, true)
            }
            "with" => (Owner::With, true),
            "for" | "while" => (Owner::Loop, false),
            "def" | "class" => (Owner::Other, false),
            // `async with` and `async for` cannot run at module level: let
            // the parser say so.
            "async" if self.is(toks.get(1), "def") => (Owner::Other, false),
            "async" => return None,
            "match" if ends_with_colon => (Owner::Other, false),
            _ if ends_with_colon => return None,
            _ => {
                self.stack.last_mut()?.last = None;
                return self.simple_statements(toks);
            }
        };
        self.stack.last_mut()?.last = Some(owner);
        if !runs {
            if ends_with_colon {
                self.stack.push(Block { indent, runs, last: None });
            }
            return Some(());
        }
        let colon = self.header_colon(toks)?;
        if colon + 1 == toks.len() {
            self.stack.push(Block { indent, runs, last: None });
            Some(())
        } else {
            // A body on the header's line: simple statements.
            self.simple_statements(&toks[colon + 1..])
        }
    }

    /// The colon that ends a block header (`if`, `with`, `except`, …).
    fn header_colon(&self, toks: &[Tok]) -> Option<usize> {
        for (i, tok) in toks.iter().enumerate().skip(1) {
            if tok.depth != 0 {
                continue;
            }
            match tok.kind {
                Kind::Colon => return Some(i),
                // `lambda` has colons of its own.
                Kind::Name if self.text(tok) == "lambda" => return None,
                _ => {}
            }
        }
        None
    }

    /// Whether an `if` test is `TYPE_CHECKING` or `<primary>.TYPE_CHECKING`;
    /// `None` when it mentions `TYPE_CHECKING` in any other way.
    fn type_checking(&self, test: &[Tok]) -> Option<bool> {
        let mentions = test
            .iter()
            .any(|t| t.kind == Kind::Name && (self.text(t) == "TYPE_CHECKING" || !self.text(t).is_ascii()));
        if !mentions {
            return Some(false);
        }
        let (last, rest) = test.split_last()?;
        if !self.is(Some(last), "TYPE_CHECKING") {
            return None;
        }
        if rest.is_empty() {
            return Some(true);
        }
        // `<primary> . TYPE_CHECKING`: a name or bracketed atom, then
        // attributes, calls and subscripts only.
        let (dot, primary) = rest.split_last()?;
        if dot.kind != Kind::Dot {
            return None;
        }
        let mut expect_name = false;
        for (i, tok) in primary.iter().enumerate() {
            if tok.depth != 0 {
                continue;
            }
            let fine = match tok.kind {
                Kind::Name => {
                    let word = self.text(tok);
                    let ok = (i == 0 || expect_name)
                        && word.is_ascii()
                        && (!KEYWORDS.contains(&word) || matches!(word, "None" | "True" | "False"));
                    expect_name = false;
                    ok
                }
                Kind::Dot if i > 0 && !expect_name => {
                    expect_name = true;
                    true
                }
                Kind::Open if !expect_name && matches!(self.text(tok), "(" | "[") => true,
                Kind::Close if !expect_name => true,
                _ => false,
            };
            if !fine {
                return None;
            }
        }
        (!expect_name && primary.first().is_some_and(|t| t.kind == Kind::Name || t.kind == Kind::Open))
            .then_some(true)
    }

    /// Simple statements separated by `;` (that run): their imports.
    fn simple_statements(&mut self, toks: &[Tok]) -> Option<()> {
        for stmt in toks.split(|t| t.kind == Kind::Semi && t.depth == 0) {
            let Some(first) = stmt.first() else { continue };
            let word = if first.kind == Kind::Name { self.text(first) } else { "" };
            if !matches!(word, "import" | "from") {
                continue;
            }
            let import = if word == "import" { self.import(stmt)? } else { self.import_from(stmt)? };
            self.out.push(import);
        }
        Some(())
    }

    /// An ASCII identifier that is not a keyword.
    fn identifier(&self, tok: Option<&Tok>) -> Option<String> {
        let tok = tok?;
        let text = self.text(tok);
        (tok.kind == Kind::Name && text.is_ascii() && !KEYWORDS.contains(&text)).then(|| text.to_owned())
    }

    /// `a.b.c` from `toks[*i]` on.
    fn dotted(&self, toks: &[Tok], i: &mut usize) -> Option<String> {
        let mut name = self.identifier(toks.get(*i))?;
        *i += 1;
        while toks.get(*i).is_some_and(|t| t.kind == Kind::Dot) {
            name.push('.');
            name.push_str(&self.identifier(toks.get(*i + 1))?);
            *i += 2;
        }
        Some(name)
    }

    /// `name [as alias]` (dotted names for `import`).
    fn alias(&self, toks: &[Tok], i: &mut usize, dotted: bool) -> Option<Alias> {
        let name = if dotted {
            self.dotted(toks, i)?
        } else {
            let name = self.identifier(toks.get(*i))?;
            *i += 1;
            name
        };
        let asname = if self.is(toks.get(*i), "as") {
            let asname = self.identifier(toks.get(*i + 1))?;
            *i += 2;
            Some(asname)
        } else {
            None
        };
        Some(Alias { name, asname })
    }

    fn import(&self, toks: &[Tok]) -> Option<ImportStmt> {
        let mut i = 1;
        let mut names = vec![self.alias(toks, &mut i, true)?];
        while toks.get(i).is_some_and(|t| t.kind == Kind::Comma) {
            i += 1;
            names.push(self.alias(toks, &mut i, true)?);
        }
        (i == toks.len()).then(|| ImportStmt {
            line: toks[0].line,
            from_import: false,
            module: None,
            level: 0,
            names,
        })
    }

    fn import_from(&self, toks: &[Tok]) -> Option<ImportStmt> {
        let mut i = 1;
        let mut level = 0;
        loop {
            match toks.get(i)?.kind {
                Kind::Dot => level += 1,
                Kind::Ellipsis => level += 3,
                _ => break,
            }
            i += 1;
        }
        let module = if self.is(toks.get(i), "import") { None } else { Some(self.dotted(toks, &mut i)?) };
        if !self.is(toks.get(i), "import") {
            return None;
        }
        i += 1;
        let mut names = Vec::new();
        match toks.get(i)?.kind {
            Kind::Star => {
                names.push(Alias { name: "*".into(), asname: None });
                i += 1;
            }
            Kind::Open if self.text(&toks[i]) == "(" => {
                i += 1;
                loop {
                    names.push(self.alias(toks, &mut i, false)?);
                    match toks.get(i)?.kind {
                        Kind::Comma if toks.get(i + 1)?.kind == Kind::Close => {
                            i += 2;
                            break;
                        }
                        Kind::Comma => i += 1,
                        Kind::Close => {
                            i += 1;
                            break;
                        }
                        _ => return None,
                    }
                }
            }
            _ => {
                names.push(self.alias(toks, &mut i, false)?);
                while toks.get(i).is_some_and(|t| t.kind == Kind::Comma) {
                    i += 1;
                    names.push(self.alias(toks, &mut i, false)?);
                }
            }
        }
        (i == toks.len()).then(|| ImportStmt { line: toks[0].line, from_import: true, module, level, names })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::analyze_module;

    /// The scanner decides `src` and agrees with the full parse.
    fn agrees(src: &str) {
        let full = analyze_module(src.as_bytes(), (3, 12), false).expect("valid source").imports;
        let scanned = scan_module(src.as_bytes()).unwrap_or_else(|| panic!("declined: {src:?}"));
        assert_eq!(scanned, full, "{src:?}");
    }

    fn declines(src: &str) {
        assert_eq!(scan_module(src.as_bytes()), None, "{src:?}");
    }

    #[test]
    fn module_body_and_run_blocks() {
        agrees("import a.b as x, c\nif x:\n    import nested\nfrom ..p import (q,\n  r as s)\n\ndef f():\n    import inner\nimport d; import e\n");
        agrees("import a\ntry:\n    import fast\nexcept ImportError:\n    import slow\nelse:\n    import e\nfinally:\n    import f\nif X:\n    import b\nelif Y:\n    with z:\n        from . import c\nelse:\n    try:\n        import d\n    except* E:\n        import g\nwith open(p) as h:\n    import w\n");
        agrees("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import hidden\nelse:\n    import shown\nif typing.TYPE_CHECKING:\n    import hidden2\nelif not X:\n    import shown2\ndef f():\n    import inner\nclass C:\n    import inner2\nfor x in y:\n    import loop\nelse:\n    import loop_else\nwhile w:\n    import loop2\n");
        agrees("if x: import a; import b\nelse: import c\ntry: import d\nexcept: import e\nclass C: import f\ndef g(): import h\nwith a: import i\n");
        agrees("from . import x\nfrom .. a . b import c as d, e\nfrom ... import y\nfrom .... z import *\nimport a . b\n");
        agrees("x = 1\r\nimport a\rimport b\n");
        agrees("@dec\nclass C:\n    import x\n\n    def f(self):\n        import y\nimport z\n");
        agrees("match x:\n    case 1:\n        import m\nmatch = 3\nimport n\n");
        agrees("if sys.modules['x'].TYPE_CHECKING:\n    import a\nif f(1).TYPE_CHECKING:\n    import b\n");
    }

    #[test]
    fn strings_comments_and_continuations() {
        agrees("s = 'import a'\nt = \"\"\"\nimport b\n\"\"\"\n# import c\nu = r'\\'' ; import d\nv = f\"{x!r:>{w}} {'import e'}\"\nw = (1,\n 2); import f\nx = 1 + \\\n  2; import g\n");
        agrees("s = f'''{\n  a}''' ; import a\nt = rb'\\\\' ; import b\nu = f\"\\N{EM DASH}{x}\" ; import c\nv = f'{x:{\"a\"}}' ; import d\n");
        agrees("s = f\"{x[\"a\"]}\" ; import a\nt = f\"{f'{y}'}\" ; import b\n");
        agrees("if x:\n    pass\n    # comment\n\n  # odd comment\nelse:\n    import a\n");
        agrees("\tif x:\n\t\timport a\n".trim_start_matches('\t'));
    }

    #[test]
    fn declines_what_it_cannot_decide() {
        declines("if TYPE_CHECKING and x:\n    import a\n");
        declines("if (TYPE_CHECKING):\n    import a\n");
        declines("if lambda: x:\n    import a\n");
        declines("import caf\u{e9}\n");
        declines("import a\n\x0cimport b\n");
        declines("x = (\n");
        declines("\u{feff}\u{feff}import a\n");
    }

    /// Line by line, skipping and lexing a line end in the same place with
    /// the same verdict.
    fn skips_as_it_lexes(src: &str) {
        let new = || Lexer { b: src.as_bytes(), i: 0, line: 1, depth: 0 };
        let (mut skip, mut lex) = (new(), new());
        let mut tokens = Vec::new();
        loop {
            let at = skip.indentation();
            assert_eq!(at, lex.indentation(), "{src:?}");
            if !matches!(at, Some(Some(_))) {
                return;
            }
            let header = |t: Option<Tok>| t.is_some_and(|t| t.kind == Kind::Colon && t.depth == 0);
            tokens.clear();
            let lexed = lex.logical_line(&mut tokens).map(header);
            assert_eq!(skip.skip_line(), lexed, "{src:?} at byte {}", lex.i);
            if lexed.is_none() {
                return;
            }
            assert_eq!((skip.i, skip.line, skip.depth), (lex.i, lex.line, lex.depth), "{src:?}");
        }
    }

    #[test]
    fn skipping_a_line_agrees_with_lexing_it() {
        for src in [
            "def f(x: int = 1) -> dict[str, int]:\n    return {'a': x[1:2], **y}\n",
            "class C(B, metaclass=M):\n    x: int\n    def g(self): pass\n",
            "if (y := f()):\n    pass\nx = a if b else c\nlambda: x\nlambda x:\\\n  x\n",
            r#"s = r'\' ; t = rb"\"" ; u = f'{a:{b}}' ; v = Rb'x' ; w = xr'y' ; z = 1r'q'"#,
            "s = '''\n:\n''' ; t = f\"{x[\"a\"]}:\" ; u = f'{f\"{y}\"}'\nv = \"a\"\"b\"r\"c\" :\n",
            "x = [1,\n  2,  # c:\n  3]\ny = (\n)\nz = 1 + \\\n  2 :\n",
            "x = caf\u{e9}:\ny = \u{e9}'s' :\n",
            "x = 1\r\nif y :\r  pass\n",
            "x = )\n",
            "x = 1\x0cy\n",
            "x = 1 \\ y\n",
            "x = 'unterminated\n",
            "x = (\n",
            "x = a[:]\ny = {k: v}\nz = f'{a!r}:'\n",
            "x = t'{a}:' ; y = T\"\"\"\n{b}\n\"\"\" :\n",
            "x = 1\x7f\n",
            "a :=\nb = c :\n",
        ] {
            skips_as_it_lexes(src);
        }
    }

    #[test]
    fn a_shifted_else_belongs_to_the_right_statement() {
        agrees("for x in y:\n    if a:\n        import b\n    else:\n        import c\nelse:\n    import d\nimport e\n");
        agrees("try:\n    for x in y:\n        pass\n    else:\n        import a\nexcept E:\n    import b\n");
    }
}
