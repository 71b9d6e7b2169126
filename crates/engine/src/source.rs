//! Source text → the import statements that run, with their lines.
//!
//! Parsing uses Ruff's parser, checked against CPython's `ast` (see
//! `tests/test_parser_differential.py`); decoding bytes to text is
//! [`crate::decode`]'s job.

use ruff_python_ast::token::TokenKind;
use std::collections::HashSet;

use ruff_python_ast::visitor::{
    walk_except_handler, walk_expr, walk_parameter, walk_pattern, walk_stmt, Visitor,
};
use ruff_python_ast::{ExceptHandler, Expr, ExprContext, Pattern, PythonVersion, Stmt};
use ruff_python_parser::{parse_unchecked, Mode, ParseErrorType, ParseOptions};
use ruff_text_size::{Ranged, TextSize};

use crate::decode::{decode_lenient, line_at, InvalidUtf8};
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

/// Registered statements, analysed: what `register()` needs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Analysis {
    /// Top-level import statements, in source order.
    pub imports: Vec<ImportStmt>,
    /// The first top-level statement that is not an import: its line and text.
    pub first_other: Option<(u32, String)>,
}

/// A module's source, analysed: what tracking and planning need.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModuleSource {
    /// The import statements that run when the module is imported, in
    /// source order: those of the module body and of its top-level
    /// `try`/`if`/`with` blocks (nested in one another too), except the body
    /// of `if TYPE_CHECKING:`. Nothing inside `def` or `class`.
    pub imports: Vec<ImportStmt>,
    /// When asked for: the names the source binds at module level.
    pub binds: Binds,
}

/// The names a module's source binds at module level, as far as reading it
/// can tell.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Binds {
    /// Not computed.
    #[default]
    NotAsked,
    /// Assignments, `def`, `class`, imports, loop/`with`/`except` targets,
    /// match captures, and `global` declarations anywhere; sorted.
    Static(Vec<String>),
    /// The source may bind names that no reading can see: a star import,
    /// `globals()`, `vars()`, `locals()`, `exec`, or a module `__getattr__`.
    Dynamic,
}

impl Binds {
    /// Whether the source certainly does not bind `name`.
    pub fn lacks(&self, name: &str) -> bool {
        match self {
            Binds::Static(names) => names.binary_search_by(|n| n.as_str().cmp(name)).is_err(),
            Binds::NotAsked | Binds::Dynamic => false,
        }
    }
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

/// What a notebook cell reads: for re-run hints.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CellUses {
    /// Names it loads that it did not assign earlier (in the same scope or
    /// an enclosing one), in first-use order.
    pub names: Vec<String>,
    /// Dotted attribute chains it loads from such names (`report.summary`,
    /// `shop.pricing.total`), in first-use order.
    pub chains: Vec<String>,
}

/// Parse a cell (after IPython's transformations) and collect what it reads.
pub fn cell_uses(text: &str, version: (u8, u8)) -> Result<CellUses, SourceError> {
    analyze_decoded(text, version, &[], |_text, body, _cursor| {
        let mut reader = UsesReader { uses: CellUses::default(), scopes: vec![HashSet::new()] };
        for stmt in body {
            reader.visit_stmt(stmt);
        }
        reader.uses
    })
}

/// Collects loads, in source order, against the names assigned so far per
/// scope (a function, lambda, class or comprehension opens one).
struct UsesReader {
    uses: CellUses,
    scopes: Vec<HashSet<String>>,
}

impl UsesReader {
    fn assigned(&self, name: &str) -> bool {
        self.scopes.iter().any(|scope| scope.contains(name))
    }

    fn assign(&mut self, name: &str) {
        if let Some(scope) = self.scopes.last_mut() {
            scope.insert(name.to_owned());
        }
    }

    fn load(&mut self, name: &str) {
        if !self.assigned(name) && !self.uses.names.iter().any(|n| n == name) {
            self.uses.names.push(name.to_owned());
        }
    }

    fn scoped(&mut self, walk: impl FnOnce(&mut Self)) {
        self.scopes.push(HashSet::new());
        walk(self);
        self.scopes.pop();
    }
}

/// `a.b.c` as a string, when the expression is a chain of attributes on a name.
fn dotted(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Name(name) => Some(name.id.to_string()),
        Expr::Attribute(attribute) => {
            dotted(&attribute.value).map(|base| format!("{base}.{}", attribute.attr))
        }
        _ => None,
    }
}

impl<'a> Visitor<'a> for UsesReader {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::FunctionDef(node) => {
                for decorator in &node.decorator_list {
                    self.visit_decorator(decorator);
                }
                self.assign(node.name.as_str());
                self.scoped(|reader| {
                    for parameter in node.parameters.iter() {
                        reader.assign(parameter.name().as_str());
                    }
                    for stmt in &node.body {
                        reader.visit_stmt(stmt);
                    }
                });
            }
            Stmt::ClassDef(node) => {
                for decorator in &node.decorator_list {
                    self.visit_decorator(decorator);
                }
                if let Some(arguments) = &node.arguments {
                    self.visit_arguments(arguments);
                }
                self.assign(node.name.as_str());
                self.scoped(|reader| {
                    for stmt in &node.body {
                        reader.visit_stmt(stmt);
                    }
                });
            }
            Stmt::Import(node) => {
                for alias in &node.names {
                    let name = alias.name.as_str();
                    self.assign(
                        alias.asname.as_ref().map_or(name.split('.').next().unwrap_or(name), |a| a.as_str()),
                    );
                }
            }
            Stmt::ImportFrom(node) => {
                for alias in &node.names {
                    self.assign(alias.asname.as_ref().map_or(alias.name.as_str(), |a| a.as_str()));
                }
            }
            _ => walk_stmt(self, stmt),
        }
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        match expr {
            Expr::Name(name) => match name.ctx {
                ExprContext::Load => self.load(name.id.as_str()),
                _ => self.assign(name.id.as_str()),
            },
            Expr::Attribute(attribute) if attribute.ctx == ExprContext::Load => {
                if let Some(chain) = dotted(expr) {
                    let root = chain.split('.').next().unwrap_or(&chain).to_owned();
                    if !self.assigned(&root) && !self.uses.chains.contains(&chain) {
                        self.uses.chains.push(chain);
                    }
                    self.load(&root);
                } else {
                    walk_expr(self, expr);
                }
            }
            Expr::Lambda(_)
            | Expr::ListComp(_)
            | Expr::SetComp(_)
            | Expr::DictComp(_)
            | Expr::Generator(_) => {
                self.scoped(|reader| walk_expr(reader, expr));
            }
            _ => walk_expr(self, expr),
        }
    }

    fn visit_parameter(&mut self, parameter: &'a ruff_python_ast::Parameter) {
        self.assign(parameter.name.as_str());
        walk_parameter(self, parameter);
    }

    fn visit_except_handler(&mut self, handler: &'a ExceptHandler) {
        let ExceptHandler::ExceptHandler(node) = handler;
        if let Some(name) = &node.name {
            self.assign(name.as_str());
        }
        walk_except_handler(self, handler);
    }
}

/// Parse `text` and collect its top-level imports. `version` is the Python
/// version whose grammar applies (`(3, 11)`), so syntax newer than the running
/// interpreter is rejected as CPython would.
pub fn analyze_text(text: &str, version: (u8, u8)) -> Result<Analysis, SourceError> {
    analyze_decoded(text, version, &[], statements)
}

/// [`analyze_text`] for text decoded with replacements: each replacement must
/// lie in a comment, where CPython never decodes (it is an error elsewhere).
///
/// `extract` reads what it needs from the module body (parsed without error).
fn analyze_decoded<T: Send>(
    text: &str,
    version: (u8, u8),
    invalid: &[InvalidUtf8],
    extract: impl FnOnce(&str, &[Stmt], &mut LineCursor<'_>) -> T + Send,
) -> Result<T, SourceError> {
    on_deep_stack(text.len(), || analyze_decoded_here(text, version, invalid, extract))
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
fn on_deep_stack<T: Send>(
    len: usize,
    parse: impl FnOnce() -> Result<T, SourceError> + Send,
) -> Result<T, SourceError> {
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

fn analyze_decoded_here<T>(
    text: &str,
    version: (u8, u8),
    invalid: &[InvalidUtf8],
    extract: impl FnOnce(&str, &[Stmt], &mut LineCursor<'_>) -> T,
) -> Result<T, SourceError> {
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
    let body: &[Stmt] = parsed.syntax().as_module().map_or(&[], |module| &module.body);
    Ok(extract(text, body, &mut cursor))
}

fn import_stmt(stmt: &Stmt, cursor: &mut LineCursor<'_>) -> Option<ImportStmt> {
    match stmt {
        Stmt::Import(node) => Some(ImportStmt {
            line: cursor.line_of(node.start()),
            from_import: false,
            module: None,
            level: 0,
            names: node.names.iter().map(alias).collect(),
        }),
        Stmt::ImportFrom(node) => Some(ImportStmt {
            line: cursor.line_of(node.start()),
            from_import: true,
            module: node.module.as_ref().map(|m| m.as_str().to_owned()),
            level: node.level,
            names: node.names.iter().map(alias).collect(),
        }),
        _ => None,
    }
}

/// The top-level imports of registered statements, and the first statement
/// that is something else.
fn statements(text: &str, body: &[Stmt], cursor: &mut LineCursor<'_>) -> Analysis {
    let mut analysis = Analysis::default();
    for stmt in body {
        match import_stmt(stmt, cursor) {
            Some(import) => analysis.imports.push(import),
            None if analysis.first_other.is_none() => {
                let line = cursor.line_of(stmt.start());
                analysis.first_other = Some((line, text[stmt.range()].to_owned()));
            }
            None => {}
        }
    }
    analysis
}

/// The imports of `body` that run when it runs: its own, and those of the
/// `try`/`if`/`with` blocks in it, except `if TYPE_CHECKING:` bodies.
fn imports_that_run(body: &[Stmt], cursor: &mut LineCursor<'_>, out: &mut Vec<ImportStmt>) {
    for stmt in body {
        match stmt {
            Stmt::Import(_) | Stmt::ImportFrom(_) => out.extend(import_stmt(stmt, cursor)),
            Stmt::If(node) => {
                if !is_type_checking(&node.test) {
                    imports_that_run(&node.body, cursor, out);
                }
                for clause in &node.elif_else_clauses {
                    if !clause.test.as_ref().is_some_and(is_type_checking) {
                        imports_that_run(&clause.body, cursor, out);
                    }
                }
            }
            Stmt::Try(node) => {
                imports_that_run(&node.body, cursor, out);
                for handler in &node.handlers {
                    let ExceptHandler::ExceptHandler(handler) = handler;
                    imports_that_run(&handler.body, cursor, out);
                }
                imports_that_run(&node.orelse, cursor, out);
                imports_that_run(&node.finalbody, cursor, out);
            }
            Stmt::With(node) => imports_that_run(&node.body, cursor, out),
            _ => {}
        }
    }
}

/// `TYPE_CHECKING` or `<anything>.TYPE_CHECKING` (`typing.TYPE_CHECKING`).
fn is_type_checking(test: &Expr) -> bool {
    match test {
        Expr::Name(name) => name.id.as_str() == "TYPE_CHECKING",
        Expr::Attribute(attribute) => attribute.attr.as_str() == "TYPE_CHECKING",
        _ => false,
    }
}

/// The names `body` binds at module level (see [`Binds`]).
fn module_binds(body: &[Stmt]) -> Binds {
    let mut reader = BindsReader { names: Vec::new(), dynamic: false, depth: 0 };
    for stmt in body {
        reader.visit_stmt(stmt);
        if reader.dynamic {
            return Binds::Dynamic;
        }
    }
    let mut names = reader.names;
    names.sort_unstable();
    names.dedup();
    Binds::Static(names)
}

/// Collects module-level bindings; `depth` counts the enclosing function,
/// class and lambda scopes.
struct BindsReader {
    names: Vec<String>,
    dynamic: bool,
    depth: u32,
}

impl BindsReader {
    fn bind(&mut self, name: &str) {
        self.names.push(name.to_owned());
    }

    fn nested(&mut self, walk: impl FnOnce(&mut Self)) {
        self.depth += 1;
        walk(self);
        self.depth -= 1;
    }
}

impl<'a> Visitor<'a> for BindsReader {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        let top = self.depth == 0;
        match stmt {
            Stmt::FunctionDef(node) => {
                if top {
                    self.bind(node.name.as_str());
                    self.dynamic |= node.name.as_str() == "__getattr__";
                }
                return self.nested(|reader| walk_stmt(reader, stmt));
            }
            Stmt::ClassDef(node) => {
                if top {
                    self.bind(node.name.as_str());
                }
                return self.nested(|reader| walk_stmt(reader, stmt));
            }
            Stmt::Global(node) => {
                for name in &node.names {
                    self.bind(name.as_str());
                }
            }
            Stmt::Import(node) if top => {
                for alias in &node.names {
                    let name = alias.name.as_str();
                    self.bind(
                        alias.asname.as_ref().map_or(name.split('.').next().unwrap_or(name), |a| a.as_str()),
                    );
                }
            }
            Stmt::ImportFrom(node) if top => {
                for alias in &node.names {
                    match &alias.asname {
                        _ if alias.name.as_str() == "*" => self.dynamic = true,
                        Some(asname) => self.bind(asname.as_str()),
                        None => self.bind(alias.name.as_str()),
                    }
                }
            }
            _ => {}
        }
        walk_stmt(self, stmt);
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        match expr {
            Expr::Name(name) => match name.ctx {
                ExprContext::Store if self.depth == 0 => self.bind(name.id.as_str()),
                ExprContext::Load => {
                    self.dynamic |= matches!(name.id.as_str(), "globals" | "vars" | "locals" | "exec");
                }
                _ => {}
            },
            Expr::Lambda(_) => return self.nested(|reader| walk_expr(reader, expr)),
            _ => {}
        }
        walk_expr(self, expr);
    }

    fn visit_except_handler(&mut self, handler: &'a ExceptHandler) {
        let ExceptHandler::ExceptHandler(node) = handler;
        if let (Some(name), 0) = (&node.name, self.depth) {
            self.bind(name.as_str());
        }
        walk_except_handler(self, handler);
    }

    fn visit_pattern(&mut self, pattern: &'a Pattern) {
        if self.depth == 0 {
            let captured = match pattern {
                Pattern::MatchAs(node) => node.name.as_ref(),
                Pattern::MatchStar(node) => node.name.as_ref(),
                Pattern::MatchMapping(node) => node.rest.as_ref(),
                _ => None,
            };
            if let Some(name) = captured {
                self.bind(name.as_str());
            }
        }
        walk_pattern(self, pattern);
    }
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

/// Decode and analyse a module's source file: the imports that run when it
/// is imported, and with `binds`, the names it binds at module level.
///
/// Like CPython, bytes that are not UTF-8 in UTF-8 source are accepted in
/// comments (CPython never decodes a comment) and rejected elsewhere.
pub fn analyze_module(bytes: &[u8], version: (u8, u8), binds: bool) -> Result<ModuleSource, SourceError> {
    // CPython refuses null bytes before it decodes anything.
    if let Some(pos) = bytes.iter().position(|&b| b == 0) {
        return Err(SourceError::Syntax {
            message: "source code string cannot contain null bytes".into(),
            line: line_at(&bytes[..pos]),
            column: 0,
        });
    }
    let (text, invalid) = decode_lenient(bytes)?;
    analyze_decoded(&text, version, &invalid, |_text, body, cursor| {
        let mut imports = Vec::new();
        imports_that_run(body, cursor, &mut imports);
        let binds = if binds { module_binds(body) } else { Binds::NotAsked };
        ModuleSource { imports, binds }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `imports::simple_statements` (registrations read without the
    /// parser) against the parser, on random lines made of the pieces
    /// import statements are made of, valid or not: wherever it answers,
    /// the parser parses the text without error and finds the same imports
    /// and no other statement; and it answers often enough to matter.
    #[test]
    fn simple_statements_agree_with_the_parser() {
        const PIECES: [&str; 34] = [
            "import",
            "from",
            "as",
            "a",
            "b",
            "pkg",
            "_x9",
            "match",
            "type",
            "if",
            "None",
            "async",
            ".",
            "..",
            "...",
            ",",
            "*",
            "(",
            ")",
            ";",
            "#c",
            "\\",
            "=",
            "'s'",
            " ",
            " ",
            " ",
            "\t",
            "é",
            "a.b",
            "a.",
            ".a",
            "import a",
            "from . import",
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |bound: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % bound as u64) as usize
        };
        let mut accepted = 0;
        let cases = 20_000;
        for _ in 0..cases {
            let mut text = String::new();
            for _ in 0..1 + next(3) {
                // Mostly well-formed shapes, with random pieces mixed in.
                let shape: Vec<&str> = match next(4) {
                    0 => vec!["import", " ", "a", ",", " ", "pkg", ".", "b", " ", "as", " ", "_x9"],
                    1 => vec![
                        "from", " ", "..", "pkg", " ", "import", " ", "a", " ", "as", " ", "b", ",", "match",
                    ],
                    2 => vec!["from", " ", ".", " ", "import", " ", "*"],
                    _ => vec![],
                };
                let mut line: Vec<String> = shape.iter().map(|p| (*p).to_owned()).collect();
                for _ in 0..next(4) {
                    let at = next(line.len() + 1);
                    line.insert(at, PIECES[next(PIECES.len())].to_owned());
                }
                if next(3) == 0 && !line.is_empty() {
                    line.remove(next(line.len()));
                }
                text.push_str(&line.concat());
                text.push('\n');
            }
            let Some(quick) = crate::imports::simple_statements(&text) else { continue };
            accepted += 1;
            let parsed = analyze_text(&text, (3, 11))
                .unwrap_or_else(|e| panic!("{text:?}: read without the parser, but the parser says {e:?}"));
            assert_eq!(parsed.first_other, None, "{text:?}");
            assert_eq!(quick, parsed.imports, "{text:?}");
        }
        assert!(accepted > cases / 10, "only {accepted} of {cases} texts read without the parser");
    }
    use crate::decode::decode;

    fn analyze_module_imports(bytes: &[u8], version: (u8, u8)) -> Result<ModuleSource, SourceError> {
        analyze_module(bytes, version, false)
    }

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

    fn module_imports(src: &str) -> Vec<String> {
        analyze_module(src.as_bytes(), V, false)
            .expect("parses")
            .imports
            .iter()
            .flat_map(|s| s.names.iter().map(|a| format!("{}{}", s.written_module(), a.name)))
            .collect()
    }

    #[test]
    fn module_imports_include_top_level_try_if_and_with_blocks() {
        let src = "import a\ntry:\n    import fast\nexcept ImportError:\n    import slow\nelse:\n    import e\nfinally:\n    import f\nif X:\n    import b\nelif Y:\n    with z:\n        from . import c\nelse:\n    try:\n        import d\n    except* E:\n        import g\nwith open(p) as h:\n    import w\n";
        assert_eq!(module_imports(src), ["a", "fast", "slow", "e", "f", "b", ".c", "d", "g", "w"]);
    }

    #[test]
    fn module_imports_skip_type_checking_def_class_and_loops() {
        let src = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import hidden\nelse:\n    import shown\nif typing.TYPE_CHECKING:\n    import hidden2\nelif not TYPE_CHECKING:\n    import shown2\ndef f():\n    import inner\nclass C:\n    import inner2\nfor x in y:\n    import loop\nwhile w:\n    import loop2\n";
        assert_eq!(module_imports(src), ["typingTYPE_CHECKING", "shown", "shown2"]);
    }

    fn binds(src: &str) -> Binds {
        analyze_module(src.as_bytes(), V, true).expect("parses").binds
    }

    #[test]
    fn binds_lists_module_level_names() {
        let src = "import a.b, c as d\nfrom m import x, y as z\ne = 1\nf: int = 2\ng += 1\n(h, [i, *j]) = k\nfor l in m: pass\nwith n as (o, p): pass\ntry:\n    pass\nexcept E as q:\n    pass\nif (r := 3): pass\ndef s(arg):\n    local = 1\n    global t\nclass U:\n    attr = 1\nmatch v:\n    case [w, *rest]: pass\n    case {**kw}: pass\n    case Point(x=px) as pt: pass\nlambda lam: lam\n";
        let Binds::Static(names) = binds(src) else { panic!("static") };
        let expected = [
            "U", "a", "d", "e", "f", "g", "h", "i", "j", "kw", "l", "o", "p", "pt", "px", "q", "r", "rest",
            "s", "t", "w", "x", "z",
        ];
        assert_eq!(names, expected);
        assert!(binds(src).lacks("local") && binds(src).lacks("attr") && binds(src).lacks("arg"));
        assert!(!binds(src).lacks("x"));
    }

    #[test]
    fn binds_gives_up_on_dynamic_modules() {
        for src in [
            "from m import *\n",
            "globals()['x'] = 1\n",
            "def f():\n    vars()\n",
            "exec('x = 1')\n",
            "def __getattr__(name):\n    return name\n",
        ] {
            assert_eq!(binds(src), Binds::Dynamic, "{src}");
            assert!(!binds(src).lacks("anything"));
        }
        assert_eq!(analyze_module(b"x = 1\n", V, false).expect("parses").binds, Binds::NotAsked);
    }

    #[test]
    fn cell_uses_lists_loads_not_assigned_before() {
        let uses = cell_uses(
            "total(cart)\nx = report.summary(Cart.price)\nCart = 1\nCart\nprint(x, shop.pricing.total)\n\
             def f(total):\n    return total + helper\n[y for y in items]\nimport np\nnp.zeros\n",
            V,
        )
        .expect("parses");
        assert_eq!(uses.names, ["total", "cart", "report", "Cart", "print", "shop", "helper", "items"]);
        assert_eq!(uses.chains, ["report.summary", "Cart.price", "shop.pricing.total"]);
        let reassigned = cell_uses("total = 3\ntotal + 1\n", V).expect("parses");
        assert!(reassigned.names.is_empty());
        assert!(cell_uses("def (", V).is_err());
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
    fn invalid_utf8_is_accepted_in_comments_only() {
        // CPython decodes UTF-8 source token by token and never decodes a
        // comment; an explicit `utf8` cookie decodes the whole file strictly.
        let ok = |b: &[u8]| analyze_module_imports(b, V).map(|a| a.imports.len());
        assert_eq!(ok(b"# caf\xe9\nimport a\n"), Ok(1));
        assert_eq!(ok(b"import a  # caf\xe9\r\nimport b\n"), Ok(2));
        assert_eq!(ok(b"\xef\xbb\xbf# \xff\nimport a\n"), Ok(1));
        assert_eq!(ok(b"# coding: utf-8\n# \xc3\nimport a\n"), Ok(1));
        assert!(ok(b"# coding: utf8\n# caf\xe9\nimport a\n").is_err());
        for bad in [&b"s = 'caf\xe9'\n"[..], b"caf\xe9 = 1\n", b"s = b'\xe9'\n", b"import a\n\xff\n"] {
            let err = analyze_module_imports(bad, V).unwrap_err();
            assert!(matches!(err, SourceError::Decode { .. } | SourceError::Syntax { .. }), "{err:?}");
        }
        let err = analyze_module_imports(b"import a\nx = '\xe9'\n", V).unwrap_err();
        assert!(matches!(err, SourceError::Decode { line: 2, .. }), "{err:?}");
        // The strict decoder still refuses them.
        assert!(decode(b"# caf\xe9\n").is_err());
    }

    #[test]
    fn leading_feff_after_the_bom_is_rejected() {
        assert!(analyze_module_imports(b"\xef\xbb\xbfimport a\n", V).is_ok());
        assert!(analyze_module_imports(b"\xef\xbb\xbf\xef\xbb\xbfimport a\n", V).is_err());
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
        assert!(analyze_module_imports(b"# coding: utf-16\nimport a\n\0", V).is_err());
        assert!(analyze_text("import a\n\0", V).is_err());
    }
}
