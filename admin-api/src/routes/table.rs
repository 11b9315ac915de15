//! The route table: each resource adds its paths with their handlers and, next to them, the
//! operations and request schemas the OpenAPI document shows.

use axum::routing::MethodRouter;
use axum::Router;
use serde_json::Value;

use crate::openapi::Op;
use crate::AppState;

pub struct Routes {
    pub router: Router<AppState>,
    /// (path, operation) for every method served.
    pub ops: Vec<(&'static str, Op)>,
    /// The request schemas, by name.
    pub schemas: Vec<(&'static str, Value)>,
}

impl Routes {
    pub fn new() -> Routes {
        Routes {
            router: Router::new(),
            ops: Vec::new(),
            schemas: Vec::new(),
        }
    }

    /// Serves `path` with `handlers`, one documented operation per method it answers.
    pub fn route<const N: usize>(
        mut self,
        path: &'static str,
        handlers: MethodRouter<AppState>,
        ops: [Op; N],
    ) -> Self {
        self.ops.extend(ops.into_iter().map(|o| (path, o)));
        self.router = self.router.route(path, handlers);
        self
    }

    /// Documents the request schemas of the operations just added.
    pub fn schemas<const N: usize>(mut self, schemas: [(&'static str, Value); N]) -> Self {
        self.schemas.extend(schemas);
        self
    }

    /// The (method, path) pairs served, sorted.
    pub fn list(&self) -> Vec<(&'static str, &'static str)> {
        let mut l: Vec<_> = self.ops.iter().map(|(p, o)| (o.method, *p)).collect();
        l.sort_unstable();
        l.dedup();
        l
    }
}
