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
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ImportStmt {
    /// 1-based line of the statement's first token, as CPython's `ast` counts.
    pub line: u32,
    pub from_import: bool,
    pub module: Option<String>,
    pub level: u32,
    pub names: Vec<Alias>,
}

/// A relative import that cannot be resolved against its package.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RelativeImportError {
    #[error("relative import {0} is outside any package")]
    NoPackage(String),
    #[error("relative import {0} would escape package {1}")]
    Escapes(String, String),
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

    /// Names of modules this statement may depend on, in order: for
    /// `import a.b` that is `a.b`; for `from m import x, y` it is `m`, `m.x`
    /// and `m.y` (the latter only matter when they are tracked modules).
    /// `from m import *` contributes `m`. Unresolvable relative imports
    /// contribute nothing (they fail at import time anyway).
    pub fn dependency_names(&self, package: &str, out: &mut Vec<String>) {
        if !self.from_import {
            out.extend(self.names.iter().map(|alias| alias.name.clone()));
            return;
        }
        let Ok(base) = self.resolve_from(package) else {
            return;
        };
        for alias in &self.names {
            if alias.name != "*" {
                out.push(format!("{base}.{}", alias.name));
            }
        }
        out.insert(out.len() - self.names.iter().filter(|a| a.name != "*").count(), base);
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
    fn dependency_names_of_from_imports() {
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
        stmt.dependency_names("pkg", &mut out);
        assert_eq!(out, ["pkg.m", "pkg.m.x", "pkg.m.y"]);
        let mut none = Vec::new();
        stmt.dependency_names("", &mut none);
        assert!(none.is_empty());
        assert!(matches!(stmt.resolve_from(""), Err(RelativeImportError::NoPackage(_))));
    }
}
