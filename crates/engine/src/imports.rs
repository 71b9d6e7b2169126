//! The import-statement model and relative-name resolution.

/// One name of an import statement: `name` or `name as asname`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Alias {
    pub name: String,
    pub asname: Option<String>,
}

/// A top-level `import ...` or `from ... import ...` statement.
///
/// `import a.b as x, c` is `from_import: false`, `module: None`, `level: 0`
/// and two aliases; `from ..pkg import y` is `from_import: true`,
/// `module: Some("pkg")`, `level: 2`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ImportStmt {
    /// 1-based line of the statement's first token, as CPython's `ast` counts.
    pub line: u32,
    pub from_import: bool,
    pub module: Option<String>,
    pub level: u32,
    pub names: Vec<Alias>,
}

/// A relative import that cannot be resolved against its package (worded as
/// the PyPI `liveimport` package words it).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RelativeImportError {
    #[error("Relative import {0} is outside any package")]
    NoPackage(String),
    #[error("Relative import {0} would escape package {1}")]
    Escapes(String, String),
}

/// A module that another module's source depends on: `name` when that is a
/// tracked module; otherwise `fallback`, if any. `from m import x` depends
/// on `m.x` when it is a module (the names come from the submodule), else on
/// `m`; `import a.b` and `from m import *` have no fallback.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Dependency {
    pub name: String,
    pub fallback: Option<String>,
}

impl ImportStmt {
    /// The statement's module part as written: `..pkg.mod` or `.`.
    pub fn written_module(&self) -> String {
        let mut text = ".".repeat(self.level as usize);
        if let Some(module) = &self.module {
            text.push_str(module);
        }
        text
    }

    /// The absolute name of the module a `from` statement imports from.
    pub fn resolve_from(&self, package: &str) -> Result<String, RelativeImportError> {
        resolve_relative(self.module.as_deref(), self.level, package).ok_or_else(|| {
            if package.is_empty() {
                RelativeImportError::NoPackage(self.written_module())
            } else {
                RelativeImportError::Escapes(self.written_module(), package.to_owned())
            }
        })
    }

    /// This statement, with a relative `from` module made absolute against
    /// `package` (and `level` 0).
    pub fn resolved(self, package: &str) -> Result<ImportStmt, RelativeImportError> {
        if !self.from_import || self.level == 0 {
            return Ok(self);
        }
        let module = self.resolve_from(package)?;
        Ok(ImportStmt { module: Some(module), level: 0, ..self })
    }

    /// The modules this statement makes its module depend on, in order.
    /// An unresolvable relative import contributes nothing (it fails at
    /// import time anyway).
    pub fn dependencies(&self, package: &str, out: &mut Vec<Dependency>) {
        let names = self.names.iter().map(|alias| alias.name.as_str());
        let mut buf = String::new();
        each_dependency(
            self.from_import,
            self.level,
            self.module.as_deref(),
            names,
            package,
            &mut buf,
            |n, f| out.push(Dependency { name: n.to_owned(), fallback: f.map(str::to_owned) }),
        );
    }
}

/// The dependencies of one import statement (given by its parts), in
/// order, as `f(name, fallback)`: the rule [`Dependency`] states. A `from`
/// name is built in `buf`. An unresolvable relative import gives none (it
/// fails at import time anyway).
pub fn each_dependency<'n>(
    from_import: bool,
    level: u32,
    module: Option<&str>,
    names: impl IntoIterator<Item = &'n str>,
    package: &str,
    buf: &mut String,
    mut f: impl FnMut(&str, Option<&str>),
) {
    if !from_import {
        for name in names {
            f(name, None);
        }
        return;
    }
    let Some(base) = resolve_relative(module, level, package) else { return };
    for name in names {
        if name == "*" {
            f(&base, None);
        } else {
            buf.clear();
            buf.push_str(&base);
            buf.push('.');
            buf.push_str(name);
            f(buf, Some(&base));
        }
    }
}

/// Resolve `level` leading dots plus `module` against `package`, the way
/// `importlib.util.resolve_name` does. `None` when it is impossible.
pub fn resolve_relative(module: Option<&str>, level: u32, package: &str) -> Option<String> {
    if level == 0 {
        return module.map(str::to_owned);
    }
    if package.is_empty() {
        return None;
    }
    // Drop (level - 1) trailing components of the package.
    let mut base = package;
    for _ in 1..level {
        base = &base[..base.rfind('.')?];
    }
    Some(match module {
        Some(module) => format!("{base}.{module}"),
        None => base.to_owned(),
    })
}

/// The package against which a module's relative imports resolve.
pub fn package_of(name: &str, is_package: bool) -> &str {
    if is_package {
        name
    } else {
        name.rsplit_once('.').map_or("", |(parent, _)| parent)
    }
}

/// Python's hard keywords: never a name (the soft ones, `match`, `case`,
/// `type`, `_`, are).
pub(crate) const KEYWORDS: [&str; 35] = [
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue", "def",
    "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import", "in", "is",
    "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while", "with", "yield",
];

/// A token of a one-line import statement (see [`simple_statements`]).
#[derive(Debug, PartialEq, Eq)]
enum Word<'a> {
    /// A name, or a dotted name written without spaces (`a.b.c`).
    Name(&'a str),
    /// A run of dots; `true` when a name follows it without a space.
    Dots(u32, bool),
    Comma,
    Star,
}

/// The words of `code` (no comment, no line end), or `None` for any
/// character or form [`simple_statements`] leaves to the parser.
fn words(code: &str) -> Option<Vec<Word<'_>>> {
    let bytes = code.as_bytes();
    let is_start = |b: u8| b.is_ascii_alphabetic() || b == b'_';
    let is_part = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b' ' | b'\t' => i += 1,
            b',' => {
                out.push(Word::Comma);
                i += 1;
            }
            b'*' => {
                out.push(Word::Star);
                i += 1;
            }
            b'.' => {
                let start = i;
                while i < bytes.len() && bytes[i] == b'.' {
                    i += 1;
                }
                let adjacent = i < bytes.len() && is_start(bytes[i]);
                out.push(Word::Dots(u32::try_from(i - start).ok()?, adjacent));
            }
            _ if is_start(b) => {
                let start = i;
                loop {
                    while i < bytes.len() && is_part(bytes[i]) {
                        i += 1;
                    }
                    // `.name` continues a dotted name; a dot before anything
                    // else is left to the parser.
                    if i < bytes.len() && bytes[i] == b'.' {
                        if i + 1 < bytes.len() && is_start(bytes[i + 1]) {
                            i += 1;
                            continue;
                        }
                        return None;
                    }
                    break;
                }
                let name = &code[start..i];
                if name.split('.').any(|part| KEYWORDS.contains(&part)) {
                    match name {
                        "import" | "from" | "as" => out.push(Word::Name(name)),
                        _ => return None,
                    }
                } else {
                    out.push(Word::Name(name));
                }
            }
            _ => return None,
        }
    }
    Some(out)
}

/// A plain name: not dotted, not a keyword.
fn plain(word: Option<&Word<'_>>) -> Option<String> {
    match word {
        Some(Word::Name(name)) if !name.contains('.') && !KEYWORDS.contains(name) => Some((*name).to_owned()),
        _ => None,
    }
}

/// A dotted name whose parts are not keywords.
fn dotted(word: Option<&Word<'_>>) -> Option<String> {
    match word {
        Some(Word::Name(name)) if !KEYWORDS.contains(name) => Some((*name).to_owned()),
        _ => None,
    }
}

/// `name [as name], ...` up to the last word (no trailing comma), each name
/// read by `read`.
fn aliases(
    at: &mut std::iter::Peekable<std::slice::Iter<'_, Word<'_>>>,
    read: fn(Option<&Word<'_>>) -> Option<String>,
) -> Option<Vec<Alias>> {
    let mut names = Vec::new();
    loop {
        let name = read(at.next())?;
        let asname = if at.peek() == Some(&&Word::Name("as")) {
            at.next();
            Some(plain(at.next())?)
        } else {
            None
        };
        names.push(Alias { name, asname });
        match at.next() {
            None => return Some(names),
            Some(Word::Comma) => {}
            Some(_) => return None,
        }
    }
}

/// One line's import statement, read from its words.
fn simple_statement(words: &[Word<'_>], line: u32) -> Option<ImportStmt> {
    let mut at = words.iter().peekable();
    match at.next()? {
        Word::Name("import") => {
            let names = aliases(&mut at, dotted)?;
            Some(ImportStmt { line, from_import: false, module: None, level: 0, names })
        }
        Word::Name("from") => {
            let (level, module) = match at.next()? {
                Word::Dots(level, true) => (*level, Some(dotted(at.next())?)),
                Word::Dots(level, false) => (*level, None),
                word => (0, Some(dotted(Some(word))?)),
            };
            if at.next()? != &Word::Name("import") {
                return None;
            }
            let names = if at.peek() == Some(&&Word::Star) {
                at.next();
                if at.next().is_some() {
                    return None;
                }
                vec![Alias { name: "*".to_owned(), asname: None }]
            } else {
                aliases(&mut at, plain)?
            };
            Some(ImportStmt { line, from_import: true, module, level, names })
        }
        _ => None,
    }
}

/// The import statements of `text` (registered statements, already
/// dedented) when each of its lines is blank, a comment, or one import
/// statement written on that one line with ASCII names: the usual
/// registration, read without the parser (whose code a kernel then need
/// not map). `None` for anything else (indentation, continuation lines,
/// parentheses, semicolons, a keyword as a name, a trailing comma, other
/// statements...): the parser reads those, and reports errors exactly as
/// CPython does. Where both read a text, they agree (tested).
pub fn simple_statements(text: &str) -> Option<Vec<ImportStmt>> {
    if text.contains('\r') {
        return None;
    }
    let mut out = Vec::new();
    for (index, line) in text.split('\n').enumerate() {
        let code = line.find('#').map_or(line, |hash| &line[..hash]);
        if code.contains(['"', '\'']) {
            return None;
        }
        let code = code.trim_end_matches([' ', '\t']);
        if code.is_empty() {
            continue;
        }
        if code.starts_with([' ', '\t']) {
            return None;
        }
        let line = u32::try_from(index + 1).ok()?;
        out.push(simple_statement(&words(code)?, line)?);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_relative_names_like_importlib() {
        assert_eq!(resolve_relative(Some("x"), 1, "a.b"), Some("a.b.x".into()));
        assert_eq!(resolve_relative(None, 1, "a.b"), Some("a.b".into()));
        assert_eq!(resolve_relative(Some("x"), 2, "a.b"), Some("a.x".into()));
        assert_eq!(resolve_relative(None, 2, "a.b"), Some("a".into()));
        assert_eq!(resolve_relative(Some("x"), 3, "a.b"), None);
        assert_eq!(resolve_relative(Some("x"), 1, ""), None);
        assert_eq!(resolve_relative(Some("x.y"), 0, ""), Some("x.y".into()));
    }

    #[test]
    fn package_of_modules_and_packages() {
        assert_eq!(package_of("a.b.c", false), "a.b");
        assert_eq!(package_of("a.b.c", true), "a.b.c");
        assert_eq!(package_of("top", false), "");
    }

    #[test]
    fn dependencies_of_from_imports_fall_back_to_the_package() {
        let stmt = ImportStmt {
            line: 1,
            from_import: true,
            module: Some("m".into()),
            level: 1,
            names: vec![
                Alias { name: "x".into(), asname: None },
                Alias { name: "y".into(), asname: Some("z".into()) },
            ],
        };
        let mut out = Vec::new();
        stmt.dependencies("pkg", &mut out);
        let dep = |name: &str| Dependency { name: name.into(), fallback: Some("pkg.m".into()) };
        assert_eq!(out, [dep("pkg.m.x"), dep("pkg.m.y")]);
        let mut none = Vec::new();
        stmt.dependencies("", &mut none);
        assert!(none.is_empty());
        assert_eq!(
            stmt.clone().resolve_from("").unwrap_err().to_string(),
            "Relative import .m is outside any package"
        );
        assert_eq!(stmt.resolved("pkg").map(|s| (s.module, s.level)), Ok((Some("pkg.m".into()), 0)));
        let escape = ImportStmt { level: 3, ..ImportStmt::default() };
        assert_eq!(
            escape.resolve_from("a.b").unwrap_err().to_string(),
            "Relative import ... would escape package a.b"
        );
    }

    #[test]
    fn dependencies_of_plain_and_star_imports_have_no_fallback() {
        let plain = ImportStmt {
            names: vec![Alias { name: "a.b".into(), asname: Some("x".into()) }],
            ..ImportStmt::default()
        };
        let star = ImportStmt {
            from_import: true,
            module: Some("m".into()),
            names: vec![Alias { name: "*".into(), asname: None }],
            ..ImportStmt::default()
        };
        let mut out = Vec::new();
        plain.dependencies("", &mut out);
        star.dependencies("", &mut out);
        assert_eq!(
            out,
            [
                Dependency { name: "a.b".into(), fallback: None },
                Dependency { name: "m".into(), fallback: None }
            ]
        );
    }
}
