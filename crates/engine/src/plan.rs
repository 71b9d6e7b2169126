//! Reload planning: the only planner.
//!
//! The order is a depth-first walk from the directly registered modules in
//! tracking order, following each module's dependencies in source order; an
//! edge back to a module still on the walk's path is ignored (it closes a
//! cycle), and a module with nothing to reload from (its file is missing, or
//! it has no source) is not entered, so it carries no reload to the modules
//! that import it. Modules reload in the walk's post-order: each after the
//! modules it depends on. This is the rule of the PyPI `liveimport` package,
//! so the same state always gives the same plan, and the same one.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::fingerprint;
use crate::graph::{Dep, ModId};
use crate::source::Binds;
use crate::{AnalysisFailure, Engine, EngineError, Resolver};

/// The walk's result.
#[derive(Clone, Debug, Default)]
pub struct Order {
    /// Modules in reload order (the walk's post-order).
    pub postorder: Vec<ModId>,
    /// Per module (by id): the dependencies it reloads after, in source
    /// order: its edges minus those that closed a cycle or lead to a
    /// module that is not entered.
    pub kept: Vec<Vec<ModId>>,
}

/// Walk the graph. `roots` in tracking order; `edges(id)` in source order;
/// `blocked(id)`: never entered.
pub fn order(
    n: usize,
    roots: &[ModId],
    edges: &dyn Fn(ModId) -> Vec<ModId>,
    blocked: &dyn Fn(ModId) -> bool,
) -> Order {
    const UNSEEN: u8 = 0;
    const ON_PATH: u8 = 1;
    const DONE: u8 = 2;
    let mut mark = vec![UNSEEN; n];
    let mut kept: Vec<Vec<ModId>> = vec![Vec::new(); n];
    let mut postorder = Vec::new();
    // An explicit stack (module, its edges, next edge): chains can be long.
    let mut stack: Vec<(ModId, Vec<ModId>, usize)> = Vec::new();
    for &root in roots {
        if mark[root] != UNSEEN || blocked(root) {
            continue;
        }
        mark[root] = ON_PATH;
        stack.push((root, edges(root), 0));
        while let Some((id, targets, next)) = stack.last_mut() {
            let id = *id;
            let Some(&dep) = targets.get(*next) else {
                stack.pop();
                mark[id] = DONE;
                postorder.push(id);
                continue;
            };
            *next += 1;
            if blocked(dep) || mark[dep] == ON_PATH {
                continue;
            }
            kept[id].push(dep);
            if mark[dep] == UNSEEN {
                mark[dep] = ON_PATH;
                stack.push((dep, edges(dep), 0));
            }
        }
    }
    Order { postorder, kept }
}

/// Why a module reloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// Its source changed.
    Modified,
    /// A module it depends on reloads in the same sync.
    Dependent,
    /// The caller asked for it.
    Forced,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Modified => "modified",
            Reason::Dependent => "dependent",
            Reason::Forced => "forced",
        }
    }
}

/// One reload of a plan, by module id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub id: ModId,
    pub reason: Reason,
    /// Its dependencies that reload earlier in the same plan, in source order.
    pub after: Vec<ModId>,
}

/// Which modules of `order` reload: those whose source `changed`, those
/// `forced`, and those that depend on a module that reloads.
pub fn steps(order: &Order, changed: &dyn Fn(ModId) -> bool, forced: &dyn Fn(ModId) -> bool) -> Vec<Step> {
    let mut reloads = vec![false; order.kept.len()];
    let mut steps = Vec::new();
    for &id in &order.postorder {
        let after: Vec<ModId> = order.kept[id].iter().copied().filter(|&d| reloads[d]).collect();
        let reason = if changed(id) {
            Reason::Modified
        } else if forced(id) {
            Reason::Forced
        } else if !after.is_empty() {
            Reason::Dependent
        } else {
            continue;
        };
        reloads[id] = true;
        steps.push(Step { id, reason, after });
    }
    steps
}

/// One reload of a plan, as the Python layer needs it.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedReload {
    pub module: String,
    pub file: Option<PathBuf>,
    pub reason: Reason,
    /// Modification time of the file (seconds since the epoch).
    pub mtime: f64,
    /// Modules reloaded earlier in the plan that cause this reload.
    pub after: Vec<String>,
    /// For a modified module that registered `from` imports name: the names
    /// its new source binds at module level (to tell a name it no longer
    /// defines, left over from the previous version).
    pub binds: Binds,
}

/// A namespace whose registered imports a plan makes it rebind: every
/// record, in order (rebinding replays them all).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rebind {
    pub namespace: u64,
    pub records: Vec<crate::Binding>,
}

/// What a sync must do.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    pub reloads: Vec<PlannedReload>,
    pub rebinds: Vec<Rebind>,
    /// Some module's imports changed: its reload may import files the
    /// import system's directory caches have not seen yet.
    pub imports_changed: bool,
    /// What change detection decided since the last call (see
    /// [`Engine::take_notices`]).
    pub notices: Vec<crate::Notice>,
}

/// The plan made and not yet committed or abandoned.
#[derive(Debug)]
pub(crate) struct Pending {
    steps: Vec<Step>,
    new_deps: HashMap<ModId, Vec<Dep>>,
}

impl Engine {
    /// The reloads a sync must do, in order, and the namespaces to rebind
    /// after them, from what the last [`Engine::poll`] observed. `force`
    /// names modules to reload even if unchanged. Every changed module is
    /// read and analysed first; one that cannot be analysed fails the whole
    /// plan (and nothing reloads). The plan is kept for [`Engine::commit`].
    pub fn plan(&mut self, force: &[String]) -> Result<Plan, EngineError> {
        self.pending = None;
        let forced = self.forced_ids(force)?;
        let (steps, new_deps, binds) = self.make_steps(&forced, true)?;
        let mut plan = self.describe(&steps, &new_deps, binds);
        plan.notices = self.detector.take_notices();
        self.pending = Some(Pending { steps, new_deps });
        Ok(plan)
    }

    /// The reloads the next sync would do, in order (nothing is kept).
    pub fn preview(&mut self) -> Result<Vec<PlannedReload>, EngineError> {
        self.poll();
        let (steps, new_deps, binds) = self.make_steps(&HashSet::new(), false)?;
        Ok(self.describe(&steps, &new_deps, binds).reloads)
    }

    fn forced_ids(&mut self, force: &[String]) -> Result<HashSet<ModId>, EngineError> {
        self.ensure_topology();
        let mut forced = HashSet::new();
        for name in force {
            match self.table.get(name) {
                Some(id) if self.reach.reachable[id] => {
                    let module = &self.table.modules[id];
                    if module.excluded {
                        return Err(EngineError::Excluded(name.clone()));
                    }
                    if module.is_missing() {
                        return Err(EngineError::NoSource(name.clone()));
                    }
                    forced.insert(id);
                }
                _ => return Err(EngineError::NotTracked(name.clone())),
            }
        }
        Ok(forced)
    }

    /// Re-read the changed modules (the hash is the truth as of now, and
    /// their new imports decide the order), then walk. Modules that new
    /// imports make reachable again are looked at too: they were not
    /// watched while unreachable.
    #[allow(clippy::type_complexity)]
    fn make_steps(
        &mut self,
        forced: &HashSet<ModId>,
        want_binds: bool,
    ) -> Result<(Vec<Step>, HashMap<ModId, Vec<Dep>>, HashMap<ModId, Binds>), EngineError> {
        let mut changed: BTreeSet<ModId> = self.detector.stale().clone();
        let from_modules: HashSet<String> = if want_binds && !changed.is_empty() {
            self.namespaces
                .iter()
                .flat_map(|ns| ns.records.iter())
                .filter(|record| record.name.is_some())
                .map(|record| record.module.clone())
                .collect()
        } else {
            HashSet::new()
        };
        let mut new_deps: HashMap<ModId, Vec<Dep>> = HashMap::new();
        let mut binds: HashMap<ModId, Binds> = HashMap::new();
        let mut blocked_changed = false;
        let mut examine: Vec<ModId> = changed.iter().copied().collect();
        let mut examined: HashSet<ModId> = HashSet::new();
        while !examine.is_empty() {
            for id in std::mem::take(&mut examine) {
                examined.insert(id);
                let Some(file) = self.table.modules[id].file.as_deref().map(Path::to_path_buf) else {
                    continue;
                };
                let module = &self.table.modules[id];
                if !module.is_stale() && !fingerprint::may_differ(&file, &module.observed) {
                    continue; // newly reachable, and unchanged
                }
                let was_missing = module.is_missing();
                let want = from_modules.contains(self.table.name(id));
                let read = self.read_source(id, &file, want);
                blocked_changed |= was_missing != self.table.modules[id].is_missing();
                self.detector.settle(&self.table, id);
                match read {
                    Ok(Some(source)) if self.table.modules[id].is_stale() => {
                        changed.insert(id);
                        let deps = self.table.intern_deps(&source.dependencies);
                        if *deps != *self.table.modules[id].deps {
                            new_deps.insert(id, deps);
                        }
                        binds.insert(id, source.binds);
                    }
                    Ok(_) => {
                        changed.remove(&id);
                    }
                    Err(error) => {
                        let name = self.table.name(id).to_owned();
                        return Err(EngineError::Analysis { module: name, file, error });
                    }
                }
            }
            if !new_deps.is_empty() {
                let table = &self.table;
                let deps_of =
                    |id: ModId| -> &[Dep] { new_deps.get(&id).map_or(&table.modules[id].deps, |d| d) };
                let reachable = table.reach(&self.roots(), &deps_of, &|d| self.follows(d));
                examine = (0..table.len())
                    .filter(|&id| reachable[id] && !self.reach.reachable[id] && !examined.contains(&id))
                    .collect();
            }
        }
        if blocked_changed {
            self.order = None;
        }
        let steps = if new_deps.is_empty() {
            self.ensure_order();
            match &self.order {
                Some(order) => steps(order, &|id| changed.contains(&id), &|id| forced.contains(&id)),
                None => Vec::new(),
            }
        } else {
            let deps_of =
                |id: ModId| -> &[Dep] { new_deps.get(&id).map_or(&self.table.modules[id].deps, |d| d) };
            let order = self.walk(&deps_of);
            steps(&order, &|id| changed.contains(&id), &|id| forced.contains(&id))
        };
        Ok((steps, new_deps, binds))
    }

    fn describe(
        &self,
        steps: &[Step],
        new_deps: &HashMap<ModId, Vec<Dep>>,
        mut binds: HashMap<ModId, Binds>,
    ) -> Plan {
        let reloads = steps
            .iter()
            .map(|step| {
                let module = &self.table.modules[step.id];
                PlannedReload {
                    module: self.table.name(step.id).to_owned(),
                    file: module.file.as_deref().map(Path::to_path_buf),
                    reason: step.reason,
                    mtime: module.observed.mtime_seconds().unwrap_or(0.0),
                    after: step.after.iter().map(|&a| self.table.name(a).to_owned()).collect(),
                    binds: if step.reason == Reason::Modified {
                        binds.remove(&step.id).unwrap_or_default()
                    } else {
                        Binds::NotAsked
                    },
                }
            })
            .collect::<Vec<_>>();
        // The namespaces a reloaded module was registered in (even when a
        // later statement superseded its records), as the PyPI package has it.
        let reloaded: HashSet<ModId> = steps.iter().map(|step| step.id).collect();
        let rebinds = self
            .namespaces
            .iter()
            .filter(|ns| ns.roots.iter().any(|id| reloaded.contains(id)))
            .map(|ns| Rebind { namespace: ns.id, records: ns.records.iter().cloned().collect() })
            .collect();
        Plan { reloads, rebinds, imports_changed: !new_deps.is_empty(), notices: Vec::new() }
    }

    /// Make sure the walk of the current graph is cached.
    fn ensure_order(&mut self) {
        self.ensure_topology();
        if self.order.is_none() {
            let table = &self.table;
            self.order = Some(self.walk(&|id| &table.modules[id].deps));
        }
    }

    /// Walk from the roots with the given dependencies.
    pub(crate) fn walk<'t>(&'t self, deps_of: &dyn Fn(ModId) -> &'t [Dep]) -> Order {
        let table = &self.table;
        let follow = |d: ModId| self.follows(d);
        let edges = |id: ModId| table.edges(id, deps_of(id), &follow);
        order(table.len(), &self.roots(), &edges, &|id| table.modules[id].is_blocked())
    }

    /// Record that every reload of the last plan succeeded: the modules now
    /// run what was on disk when it was planned; then track what they newly
    /// import. All or nothing: on error nothing changed (and the plan stays
    /// uncommitted).
    pub fn commit(&mut self, resolver: &mut dyn Resolver) -> Result<(), EngineError> {
        let Pending { steps, mut new_deps } = self.pending.take().ok_or(EngineError::NoPlan)?;
        let mut undo = Vec::with_capacity(steps.len());
        let mut changed: Vec<ModId> = Vec::new();
        for step in &steps {
            let module = &mut self.table.modules[step.id];
            let previous = (step.id, module.loaded, None);
            let previous = match new_deps.remove(&step.id) {
                Some(deps) => {
                    changed.push(step.id);
                    (
                        previous.0,
                        previous.1,
                        Some(std::mem::replace(&mut module.deps, deps.into_boxed_slice())),
                    )
                }
                None => previous,
            };
            undo.push(previous);
            if step.reason == Reason::Modified || module.loaded.is_none() {
                module.loaded = module.observed.hash();
            }
        }
        if !changed.is_empty() {
            // Workspace modules the changed imports name are tracked; one
            // that cannot be analysed is tracked anyway and reported by the
            // next sync.
            let checkpoint = self.table.len();
            let untrackable = self.untrackable.clone();
            self.topology_stale = true;
            let discovered = self.discover(resolver, false, Some(&changed));
            self.finish_reading();
            if let Err(error) = discovered {
                self.table.truncate(checkpoint);
                self.untrackable = untrackable;
                for (id, loaded, deps) in undo {
                    let module = &mut self.table.modules[id];
                    module.loaded = loaded;
                    if let Some(deps) = deps {
                        module.deps = deps;
                    }
                }
                self.topology_stale = true;
                self.ensure_topology();
                return Err(error);
            }
        }
        for step in &steps {
            self.detector.settle(&self.table, step.id);
        }
        self.ensure_topology();
        Ok(())
    }

    /// Forget the last plan (its reloads were rolled back).
    pub fn abort(&mut self) {
        self.pending = None;
    }

    /// Read and analyse a stale module's file again, recording what was
    /// observed. `Ok(None)` when there is nothing to analyse (gone).
    fn read_source(
        &mut self,
        id: ModId,
        file: &std::path::Path,
        binds: bool,
    ) -> Result<Option<crate::track::Analysed>, AnalysisFailure> {
        let (observed, bytes) = crate::fingerprint::read(file);
        let module = &self.table.modules[id];
        let (name, is_package) = (self.table.name(id).to_owned(), module.is_package);
        let unreadable = match &observed {
            crate::fingerprint::Observed::Unreadable(reason) => Some(reason.clone()),
            _ => None,
        };
        self.table.modules[id].observed = observed;
        if let Some(reason) = unreadable {
            return Err(AnalysisFailure::Unreadable(reason));
        }
        match bytes {
            Some(bytes) => crate::track::analyse(&name, is_package, &bytes, self.version, binds).map(Some),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::tests::table;
    use crate::graph::Table;

    fn walk(t: &Table, roots: &[&str], missing: &[&str]) -> Order {
        let roots: Vec<ModId> = roots.iter().filter_map(|r| t.get(r)).collect();
        let missing: Vec<ModId> = missing.iter().filter_map(|m| t.get(m)).collect();
        order(t.len(), &roots, &|id| t.edges(id, &t.modules[id].deps, &|_| true), &|id| missing.contains(&id))
    }

    fn plan(t: &Table, order: &Order, touched: &[&str]) -> Vec<(String, Vec<String>)> {
        let touched: Vec<ModId> = touched.iter().filter_map(|m| t.get(m)).collect();
        let name = |id: ModId| t.name(id).to_owned();
        steps(order, &|id| touched.contains(&id), &|_| false)
            .into_iter()
            .map(|s| (name(s.id), s.after.into_iter().map(name).collect()))
            .collect()
    }

    fn names(steps: &[(String, Vec<String>)]) -> Vec<String> {
        steps.iter().map(|(n, _)| n.clone()).collect()
    }

    /// `import A, B, C, D, E, F, G` with A→C, B→C,D,G, C→E,F, D→F, E→A.
    const SEVEN: &[(&str, &[&str])] = &[
        ("A", &["C"]),
        ("B", &["C", "D", "G"]),
        ("C", &["E", "F"]),
        ("D", &["F"]),
        ("E", &["A"]),
        ("F", &[]),
        ("G", &[]),
    ];

    #[test]
    fn the_cycle_example_of_the_specification() {
        let t = table(SEVEN);
        let all = walk(&t, &["A", "B", "C", "D", "E", "F", "G"], &[]);
        assert_eq!(names(&plan(&t, &all, &["A"])), ["A"], "E -> A is the ignored edge");
        assert_eq!(names(&plan(&t, &all, &["G"])), ["G", "B"]);
        // Only B registered: tracking order B, C, D, G, E, F, A.
        let t = table(&[
            ("B", &["C", "D", "G"]),
            ("C", &["E", "F"]),
            ("D", &["F"]),
            ("G", &[]),
            ("E", &["A"]),
            ("F", &[]),
            ("A", &["C"]),
        ]);
        let only_b = walk(&t, &["B"], &[]);
        assert_eq!(names(&plan(&t, &only_b, &["A"])), ["A", "E", "C", "B"]);
    }

    #[test]
    fn dependencies_first_in_post_order() {
        let t = table(&[("app", &["z", "y"]), ("y", &[]), ("z", &[])]);
        let o = walk(&t, &["app"], &[]);
        assert_eq!(o.postorder, [2, 1, 0], "z (imported first) before y");
        assert_eq!(
            plan(&t, &o, &["y", "z"]),
            [
                ("z".to_string(), vec![]),
                ("y".to_string(), vec![]),
                ("app".to_string(), vec!["z".to_string(), "y".to_string()])
            ]
        );
    }

    #[test]
    fn missing_modules_stop_being_links() {
        let t = table(&[("a", &["b"]), ("b", &["c"]), ("c", &[])]);
        let o = walk(&t, &["a"], &["b"]);
        assert!(plan(&t, &o, &["c"]).is_empty(), "nothing reaches c but through b");
        let o = walk(&t, &["a", "c"], &["b"]);
        assert_eq!(names(&plan(&t, &o, &["c"])), ["c"]);
    }

    #[test]
    fn diamond_reloads_each_module_once() {
        let t = table(&[("d", &["b", "c"]), ("b", &["a"]), ("c", &["a"]), ("a", &[])]);
        let o = walk(&t, &["d"], &[]);
        assert_eq!(names(&plan(&t, &o, &["a"])), ["a", "b", "c", "d"]);
    }

    #[test]
    fn deep_chains_do_not_overflow() {
        let n = 50_000;
        let names: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
        let deps: Vec<Vec<&str>> =
            (0..n).map(|i| if i + 1 < n { vec![names[i + 1].as_str()] } else { vec![] }).collect();
        let spec: Vec<(&str, &[&str])> = (0..n).map(|i| (names[i].as_str(), deps[i].as_slice())).collect();
        let t = table(&spec);
        let o = walk(&t, &["m0"], &[]);
        assert_eq!(o.postorder.len(), n);
        assert_eq!(o.postorder[0], n - 1);
    }
}
