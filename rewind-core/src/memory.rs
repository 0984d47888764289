//! The in-memory backend: nothing survives the process.

use std::collections::HashMap;
use std::sync::RwLock;

use crate::backend::{plan_batch, AppendOutcome, AppendRequest, Backend, StoreView, Visitor};
use crate::{Event, Result, StreamHead};

#[derive(Default)]
struct State {
    log: Vec<Event>,
    ids: HashMap<Vec<u8>, u64>,
    /// Positions of each stream's events, by version.
    streams: HashMap<Vec<u8>, Vec<u64>>,
}

impl State {
    fn head(&self, stream: &[u8]) -> Option<StreamHead> {
        let positions = self.streams.get(stream)?;
        let &position = positions.last()?;
        Some(StreamHead {
            version: positions.len() as u64 - 1,
            position,
            id: self.log[position as usize].id.clone(),
        })
    }
}

impl StoreView for &State {
    fn head(&mut self, stream: &[u8]) -> Result<Option<StreamHead>> {
        Ok(State::head(self, stream))
    }

    fn contains_id(&mut self, id: &[u8]) -> Result<bool> {
        Ok(self.ids.contains_key(id))
    }
}

/// A backend that keeps every event in memory.
#[derive(Default)]
pub struct MemoryBackend {
    state: RwLock<State>,
}

impl MemoryBackend {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }
}

impl Backend for MemoryBackend {
    fn append_batch(&self, batch: &[AppendRequest]) -> Result<Vec<Result<AppendOutcome>>> {
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        let next = state.log.len() as u64;
        let outcomes = plan_batch(&mut &*state, next, batch)?;
        for (req, outcome) in batch.iter().zip(&outcomes) {
            let Ok(o) = outcome else { continue };
            for (i, (id, data)) in req.events.iter().enumerate() {
                let position = o.first_position + i as u64;
                state.ids.insert(id.clone(), position);
                state
                    .streams
                    .entry(req.stream.clone())
                    .or_default()
                    .push(position);
                state.log.push(Event {
                    id: id.clone(),
                    data: data.clone(),
                    stream: req.stream.clone(),
                    version: o.first_version + i as u64,
                    position,
                });
            }
        }
        Ok(outcomes)
    }

    fn read_log(&self, from_position: u64, limit: usize, visit: &mut Visitor<'_>) -> Result<()> {
        let state = self.read();
        let start = usize::try_from(from_position).unwrap_or(usize::MAX);
        for event in state.log.iter().skip(start).take(limit) {
            if !visit(event.as_ref()) {
                break;
            }
        }
        Ok(())
    }

    fn read_stream(
        &self,
        stream: &[u8],
        from_version: u64,
        limit: usize,
        visit: &mut Visitor<'_>,
    ) -> Result<()> {
        let state = self.read();
        let Some(positions) = state.streams.get(stream) else {
            return Ok(());
        };
        let start = usize::try_from(from_version).unwrap_or(usize::MAX);
        for &p in positions.iter().skip(start).take(limit) {
            if !visit(state.log[p as usize].as_ref()) {
                break;
            }
        }
        Ok(())
    }

    fn get(&self, id: &[u8], visit: &mut Visitor<'_>) -> Result<bool> {
        let state = self.read();
        match state.ids.get(id) {
            Some(&p) => {
                visit(state.log[p as usize].as_ref());
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn stream_head(&self, stream: &[u8]) -> Result<Option<StreamHead>> {
        Ok(self.read().head(stream))
    }

    fn next_position(&self) -> Result<u64> {
        Ok(self.read().log.len() as u64)
    }

    fn storage_use(&self) -> Result<Option<crate::metrics::StorageUse>> {
        Ok(Some(crate::metrics::StorageUse {
            events: self.next_position()?,
            ..Default::default()
        }))
    }
}
