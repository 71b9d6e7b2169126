//! The engine through its public API, on real files in temporary directories.

use std::fs;
use std::path::{Path, PathBuf};

use liveimport_engine::{Binding, Engine, EngineError, MapResolver, Mode, ModuleMeta, Resolution};

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    resolver: MapResolver,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().canonicalize().expect("canonical");
        Fixture { _dir: dir, root, resolver: MapResolver::default() }
    }

    /// Write a module file and declare it loaded.
    fn module(&mut self, name: &str, source: &str) -> PathBuf {
        let rel = format!("{}.py", name.replace('.', "/"));
        let path = self.root.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("mkdir");
        }
        fs::write(&path, source).expect("write");
        self.resolver.modules.insert(
            name.to_owned(),
            Resolution::Source(ModuleMeta {
                name: name.to_owned(),
                file: Some(path.clone()),
                is_package: false,
                cached: None,
            }),
        );
        path
    }

    fn meta(&self, name: &str) -> ModuleMeta {
        match &self.resolver.modules[name] {
            Resolution::Source(meta) => meta.clone(),
            other => panic!("{name} is {other:?}"),
        }
    }

    fn engine(&self, mode: Mode) -> Engine {
        Engine::new((3, 11), vec![self.root.clone()], mode)
    }
}

fn import(module: &str) -> Binding {
    Binding { module: module.into(), name: None, asname: None }
}

fn plan_names(engine: &mut Engine) -> Vec<(String, &'static str, Vec<String>)> {
    engine.poll();
    engine
        .plan(&[])
        .expect("plan")
        .reloads
        .into_iter()
        .map(|p| (p.module, p.reason.as_str(), p.after))
        .collect()
}

fn edit(path: &Path, source: &str) {
    fs::write(path, source).expect("edit");
}

#[test]
fn edits_reload_in_dependency_order_in_both_modes() {
    for mode in [Mode::Events, Mode::Polling] {
        let mut fx = Fixture::new();
        let leaf = fx.module("leaf", "X = 1\n");
        fx.module("mid", "import leaf\n");
        fx.module("app", "import mid\nfrom leaf import X\n");
        let mut engine = fx.engine(mode);
        engine
            .register(1, false, vec![import("app")], vec![fx.meta("app")], &mut fx.resolver)
            .expect("register");
        let tracked: Vec<String> = engine.tracked(None).into_iter().map(|t| t.name).collect();
        assert_eq!(tracked, ["app", "mid", "leaf"], "{mode:?}");
        assert!(!engine.poll());
        edit(&leaf, "X = 2\n");
        assert!(engine.poll(), "{mode:?}: edit not seen");
        let plan = plan_names(&mut engine);
        assert_eq!(
            plan,
            [
                ("leaf".into(), "modified", vec![]),
                ("mid".into(), "dependent", vec!["leaf".into()]),
                ("app".into(), "dependent", vec!["mid".into(), "leaf".into()]),
            ]
        );
        engine.commit(&mut fx.resolver).expect("commit");
        assert!(!engine.poll(), "{mode:?}: committed state still stale");
    }
}

#[test]
fn touch_and_identical_rewrite_do_not_reload() {
    let mut fx = Fixture::new();
    let leaf = fx.module("leaf", "X = 1\n");
    let mut engine = fx.engine(Mode::Events);
    engine
        .register(1, false, vec![import("leaf")], vec![fx.meta("leaf")], &mut fx.resolver)
        .expect("register");
    edit(&leaf, "X = 1\n");
    assert!(!engine.poll());
    assert!(plan_names(&mut engine).is_empty());
}

#[test]
fn failed_plan_is_not_committed_and_retries() {
    let mut fx = Fixture::new();
    let leaf = fx.module("leaf", "X = 1\n");
    let mut engine = fx.engine(Mode::Polling);
    engine
        .register(1, false, vec![import("leaf")], vec![fx.meta("leaf")], &mut fx.resolver)
        .expect("register");
    edit(&leaf, "X = 2\n");
    assert_eq!(plan_names(&mut engine).len(), 1);
    engine.abort();
    assert!(engine.poll(), "still out of date after an aborted sync");
    assert_eq!(plan_names(&mut engine).len(), 1);
}

#[test]
fn syntax_errors_fail_the_plan_with_the_module_and_line() {
    let mut fx = Fixture::new();
    let leaf = fx.module("leaf", "X = 1\n");
    let mut engine = fx.engine(Mode::Events);
    engine
        .register(1, false, vec![import("leaf")], vec![fx.meta("leaf")], &mut fx.resolver)
        .expect("register");
    edit(&leaf, "X = 1\ndef broken(:\n");
    assert!(engine.poll());
    match engine.plan(&[]) {
        Err(EngineError::Analysis { module, error, .. }) => {
            assert_eq!(module, "leaf");
            assert_eq!(error.line(), Some(2));
        }
        other => panic!("expected an analysis error, got {other:?}"),
    }
}

#[test]
fn failed_registration_changes_nothing() {
    let mut fx = Fixture::new();
    fx.module("good", "import bad\n");
    fx.module("bad", "def f(:\n");
    fx.module("other", "X = 1\n");
    let mut engine = fx.engine(Mode::Events);
    engine
        .register(1, false, vec![import("other")], vec![fx.meta("other")], &mut fx.resolver)
        .expect("register");
    let before = (engine.tracked(None), engine.registrations(None));
    let result = engine.register(1, false, vec![import("good")], vec![fx.meta("good")], &mut fx.resolver);
    assert!(matches!(result, Err(EngineError::Analysis { ref module, .. }) if module == "bad"));
    assert_eq!((engine.tracked(None), engine.registrations(None)), before);
}

#[test]
fn forced_reloads_reach_dependents_and_unknown_names_are_refused() {
    let mut fx = Fixture::new();
    fx.module("leaf", "X = 1\n");
    fx.module("app", "import leaf\n");
    let mut engine = fx.engine(Mode::Events);
    engine.register(1, false, vec![import("app")], vec![fx.meta("app")], &mut fx.resolver).expect("register");
    let plan = engine.plan(&["leaf".into()]).expect("plan");
    assert_eq!(
        plan.reloads.iter().map(|p| (p.module.as_str(), p.reason.as_str())).collect::<Vec<_>>(),
        [("leaf", "forced"), ("app", "dependent")]
    );
    assert_eq!(engine.plan(&["nope".into()]), Err(EngineError::NotTracked("nope".into())));
}

#[test]
fn modules_outside_the_workspace_are_not_tracked_indirectly() {
    let mut fx = Fixture::new();
    fx.module("app", "import lib\n");
    let outside = tempfile::tempdir().expect("tempdir");
    let lib = outside.path().join("lib.py");
    fs::write(&lib, "X = 1\n").expect("write");
    fx.resolver.modules.insert(
        "lib".into(),
        Resolution::Source(ModuleMeta {
            name: "lib".into(),
            file: Some(lib),
            is_package: false,
            cached: None,
        }),
    );
    let mut engine = fx.engine(Mode::Events);
    engine.register(1, false, vec![import("app")], vec![fx.meta("app")], &mut fx.resolver).expect("register");
    assert_eq!(engine.tracked(None).len(), 1);
    engine
        .set_workspace(vec![fx.root.clone(), outside.path().to_path_buf()], &mut fx.resolver)
        .expect("workspace");
    assert_eq!(engine.tracked(None).len(), 2);
}

#[test]
fn deleted_files_are_skipped_and_recreated_files_reload() {
    let mut fx = Fixture::new();
    let leaf = fx.module("leaf", "X = 1\n");
    fx.module("app", "import leaf\n");
    let mut engine = fx.engine(Mode::Events);
    engine.register(1, false, vec![import("app")], vec![fx.meta("app")], &mut fx.resolver).expect("register");
    fs::remove_file(&leaf).expect("rm");
    assert!(!engine.poll());
    assert!(plan_names(&mut engine).is_empty());
    edit(&leaf, "X = 2\n");
    assert!(engine.poll());
    assert_eq!(plan_names(&mut engine).len(), 2);
}

#[test]
fn save_by_rename_is_seen() {
    let mut fx = Fixture::new();
    let leaf = fx.module("leaf", "X = 1\n");
    let mut engine = fx.engine(Mode::Events);
    engine
        .register(1, false, vec![import("leaf")], vec![fx.meta("leaf")], &mut fx.resolver)
        .expect("register");
    let tmp = fx.root.join("leaf.py.tmp");
    fs::write(&tmp, "X = 3\n").expect("write");
    fs::rename(&tmp, &leaf).expect("rename");
    assert!(engine.poll());
}

/// A resolver that fails for one name and counts the names it is asked.
struct FailingOn<'a> {
    inner: &'a mut MapResolver,
    name: &'static str,
    asked: Vec<String>,
}

impl liveimport_engine::Resolver for FailingOn<'_> {
    fn resolve(&mut self, names: &[String]) -> Result<Vec<Resolution>, String> {
        self.asked.extend(names.iter().cloned());
        if names.iter().any(|n| n == self.name) {
            return Err(format!("cannot look at {}", self.name));
        }
        self.inner.resolve(names)
    }
}

#[test]
fn a_resolver_failing_while_a_level_is_read_fails_the_registration_which_changes_nothing() {
    // A level wide enough to be read on two threads (16 files or more),
    // and the resolver failing on a name of the next one: the failure is
    // the registration's, and it leaves nothing behind.
    let mut fx = Fixture::new();
    let wide = 40;
    let app: String = (0..wide).map(|i| format!("import m{i}\n")).collect();
    fx.module("app", &app);
    for i in 0..wide {
        fx.module(&format!("m{i}"), &format!("import n{i}\n"));
        fx.module(&format!("n{i}"), "X = 1\n");
    }
    fx.module("other", "X = 1\n");
    let mut engine = fx.engine(Mode::Polling);
    engine
        .register(1, false, vec![import("other")], vec![fx.meta("other")], &mut fx.resolver)
        .expect("register");
    let before = (engine.tracked(None), engine.registrations(None));
    let meta = fx.meta("app");
    let mut failing = FailingOn { inner: &mut fx.resolver, name: "n30", asked: Vec::new() };
    let result = engine.register(1, false, vec![import("app")], vec![meta.clone()], &mut failing);
    assert!(
        matches!(result, Err(EngineError::Resolver(ref message)) if message.contains("n30")),
        "{result:?}"
    );
    assert_eq!((engine.tracked(None), engine.registrations(None)), before);
    engine.register(1, false, vec![import("app")], vec![meta], &mut fx.resolver).expect("register");
    assert_eq!(engine.tracked(None).len(), 2 + 2 * wide);
}

#[test]
fn modules_are_tracked_in_breadth_first_order_of_their_imports() {
    // Each level's modules in the order the walk meets their names: the
    // modules of one level first, then what they import, in the order of
    // the importers and of their imports (whichever thread read a file).
    let mut fx = Fixture::new();
    let wide = 40;
    let app: String = (0..wide).map(|i| format!("import m{i}\n")).collect();
    fx.module("app", &app);
    let mut expected = vec!["app".to_owned()];
    expected.extend((0..wide).map(|i| format!("m{i}")));
    for i in 0..wide {
        // A module of this level (known by then), a later one of this level
        // (tracked in this level, so not asked again), and one of the next.
        let j = (i * 7) % wide;
        fx.module(
            &format!("m{i}"),
            &format!("import m{}\nimport n{j}\nfrom m{} import X\n", (i + 39) % wide, (i + 1) % wide),
        );
        fx.module(&format!("n{j}"), &format!("X = 1\nimport m{i}\n"));
        expected.push(format!("n{j}"));
    }
    let mut engine = fx.engine(Mode::Polling);
    engine.register(1, false, vec![import("app")], vec![fx.meta("app")], &mut fx.resolver).expect("register");
    let order: Vec<String> = engine.tracked(None).into_iter().map(|t| t.name).collect();
    assert_eq!(order, expected);
}
