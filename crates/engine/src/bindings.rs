//! Per-namespace binding records: the effective tail of registered imports.

/// One single-binding import statement: `import a.b.c` is `("a.b.c", None,
/// None)`, `import a.b.c as x` is `("a.b.c", None, Some("x"))`, `from m import
/// n` is `("m", Some("n"), None)`, `from m import n as k` is `("m", Some("n"),
/// Some("k"))` and `from m import *` is `("m", Some("*"), None)`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Binding {
    pub module: String,
    pub name: Option<String>,
    pub asname: Option<String>,
}

/// What a record binds: a name, or (for star imports) "everything from module".
#[derive(Debug, PartialEq, Eq)]
enum Key<'a> {
    Name(&'a str),
    Star(&'a str),
}

impl Binding {
    fn key(&self) -> Key<'_> {
        match (&self.name, &self.asname) {
            (_, Some(asname)) => Key::Name(asname),
            (Some(name), None) if name == "*" => Key::Star(&self.module),
            (Some(name), None) => Key::Name(name),
            (None, None) => Key::Name(self.module.split('.').next().unwrap_or(&self.module)),
        }
    }

    /// The import statement this record spells.
    pub fn statement(&self) -> String {
        match (&self.name, &self.asname) {
            (None, None) => format!("import {}", self.module),
            (None, Some(asname)) => format!("import {} as {asname}", self.module),
            (Some(name), None) => format!("from {} import {name}", self.module),
            (Some(name), Some(asname)) => format!("from {} import {name} as {asname}", self.module),
        }
    }
}

/// The registered imports of one namespace, compacted: a record is dropped
/// when a later one binds the same name (for `*`, star-imports the same
/// module), so re-running a cell never grows the list.
#[derive(Clone, Debug, Default)]
pub struct Records {
    records: Vec<Binding>,
}

impl Records {
    pub fn push(&mut self, binding: Binding) {
        let key = binding.key();
        if let Some(pos) = self.records.iter().position(|r| r.key() == key) {
            self.records.remove(pos);
        }
        self.records.push(binding);
    }

    pub fn iter(&self) -> impl Iterator<Item = &Binding> {
        self.records.iter()
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(module: &str, name: Option<&str>, asname: Option<&str>) -> Binding {
        Binding { module: module.into(), name: name.map(Into::into), asname: asname.map(Into::into) }
    }

    #[test]
    fn later_bindings_replace_earlier_ones() {
        let mut r = Records::default();
        r.push(b("a.b.c", None, None));
        r.push(b("m", Some("x"), None));
        r.push(b("m", Some("*"), None));
        r.push(b("k", Some("y"), Some("x")));
        r.push(b("a.d", None, None)); // binds `a` again
        r.push(b("m", Some("*"), None));
        let stmts: Vec<String> = r.iter().map(Binding::statement).collect();
        assert_eq!(stmts, ["from k import y as x", "import a.d", "from m import *"]);
    }

    #[test]
    fn repeated_registration_stays_compact() {
        let mut r = Records::default();
        for _ in 0..1000 {
            r.push(b("m", Some("x"), None));
            r.push(b("m", None, Some("mm")));
        }
        assert_eq!(r.len(), 2);
    }
}
