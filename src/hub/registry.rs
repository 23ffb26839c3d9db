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

#[derive(Default)]
pub struct Registry {
    modules: HashMap<String, Entry>,
}

impl Registry {
    /// Registers `name` for connection `owner`; `false` if another live
    /// connection holds the name.
    pub fn register(&mut self, name: &str, port: u16, url: Option<String>, owner: u64) -> bool {
        if let Some(e) = self.modules.get(name) {
            if e.owner != owner {
                return false;
            }
        }
        self.modules
            .insert(name.to_owned(), Entry { port, url, owner });
        true
    }

    /// Removes the entries connection `owner` registered.
    pub fn release(&mut self, owner: u64) {
        self.modules.retain(|_, e| e.owner != owner);
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
        assert!(r.register("ListServ", 8001, None, 1));
        assert!(!r.register("ListServ", 9999, None, 2), "impostor");
        r.release(2);
        assert_eq!(r.list().len(), 1, "impostor's end removes nothing");
        assert!(r.register("ListServ", 8002, None, 1), "owner may update");
        assert_eq!(r.list()[0].port, 8002);
        r.release(1);
        assert!(r.list().is_empty());
    }
}
