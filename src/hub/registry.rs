//! The running modules: name to port (and optional URL), each entry owned by
//! the connection that registered it, so that only that connection's end
//! removes it.

use std::collections::HashMap;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunningModule {
    pub name: String,
    pub port: u16,
    pub url: Option<String>,
}

struct Entry {
    port: u16,
    url: Option<String>,
    owner: u64,
}

/// What a registration did.
#[derive(Debug, PartialEq, Eq)]
pub enum Registered {
    /// The module was not running: its registration begins.
    New,
    /// Its owner registered again with another port or URL.
    Changed,
    /// Its owner registered again, the same.
    Same,
    /// Another live connection holds the name.
    Taken,
}

#[derive(Default)]
pub struct Registry {
    modules: HashMap<String, Entry>,
}

impl Registry {
    /// Registers `name` for connection `owner`, unless another live
    /// connection holds the name.
    pub fn register(
        &mut self,
        name: &str,
        port: u16,
        url: Option<String>,
        owner: u64,
    ) -> Registered {
        let outcome = match self.modules.get(name) {
            None => Registered::New,
            Some(e) if e.owner != owner => return Registered::Taken,
            Some(e) if e.port == port && e.url == url => Registered::Same,
            Some(_) => Registered::Changed,
        };
        self.modules
            .insert(name.to_owned(), Entry { port, url, owner });
        outcome
    }

    /// Removes `name` if `owner` holds it (a claim the shared table refused).
    pub fn remove(&mut self, name: &str, owner: u64) {
        if self.modules.get(name).is_some_and(|e| e.owner == owner) {
            self.modules.remove(name);
        }
    }

    /// Every entry with the connection that owns it.
    pub fn owned(&self) -> Vec<(RunningModule, u64)> {
        self.modules
            .iter()
            .map(|(name, e)| {
                let m = RunningModule {
                    name: name.clone(),
                    port: e.port,
                    url: e.url.clone(),
                };
                (m, e.owner)
            })
            .collect()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.modules.contains_key(name)
    }

    /// Removes the entries connection `owner` registered; returns them.
    pub fn release(&mut self, owner: u64) -> Vec<RunningModule> {
        let gone: Vec<String> = self
            .modules
            .iter()
            .filter(|(_, e)| e.owner == owner)
            .map(|(name, _)| name.clone())
            .collect();
        gone.into_iter()
            .filter_map(|name| {
                let e = self.modules.remove(&name)?;
                Some(RunningModule {
                    name,
                    port: e.port,
                    url: e.url,
                })
            })
            .collect()
    }

    pub fn list(&self) -> Vec<RunningModule> {
        let mut list: Vec<RunningModule> = self
            .modules
            .iter()
            .map(|(name, e)| RunningModule {
                name: name.clone(),
                port: e.port,
                url: e.url.clone(),
            })
            .collect();
        list.sort_by(|a, b| a.name.cmp(&b.name));
        list
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_owner_replaces_or_releases() {
        let mut r = Registry::default();
        assert_eq!(r.register("ListServ", 8001, None, 1), Registered::New);
        assert_eq!(
            r.register("ListServ", 9999, None, 2),
            Registered::Taken,
            "impostor"
        );
        assert!(r.release(2).is_empty(), "impostor's end removes nothing");
        assert_eq!(r.list().len(), 1);
        assert_eq!(r.register("ListServ", 8001, None, 1), Registered::Same);
        assert_eq!(
            r.register("ListServ", 8002, None, 1),
            Registered::Changed,
            "owner may update"
        );
        assert_eq!(r.list()[0].port, 8002);
        assert_eq!(r.release(1)[0].name, "ListServ");
        assert!(r.list().is_empty());
    }
}
