//! The in-memory backend: nothing survives the process.

use std::collections::HashMap;
use std::sync::RwLock;

use crate::backend::{
    backward_start, events_to_write, plan_batch, AppendOutcome, AppendRequest, Backend, StoreView,
    Visitor,
};
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

    fn event(&mut self, id: &[u8]) -> Result<Option<Event>> {
        Ok(self.ids.get(id).map(|&p| self.log[p as usize].clone()))
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
        let state = &mut *state;
        for planned in events_to_write(batch, &outcomes) {
            let e = planned.event;
            state.ids.insert(e.id.clone(), planned.position);
            match state.streams.get_mut(planned.stream) {
                Some(positions) => positions.push(planned.position),
                None => {
                    state
                        .streams
                        .insert(planned.stream.to_vec(), vec![planned.position]);
                }
            }
            state.log.push(Event {
                id: e.id.clone(),
                event_type: e.event_type.clone(),
                metadata: e.metadata.clone(),
                data: e.data.clone(),
                stream: planned.stream.to_vec(),
                version: planned.version,
                position: planned.position,
            });
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

    fn read_log_backward(
        &self,
        from_position: Option<u64>,
        limit: usize,
        visit: &mut Visitor<'_>,
    ) -> Result<()> {
        let state = self.read();
        let Some(start) = backward_start(from_position, state.log.len() as u64) else {
            return Ok(());
        };
        for event in state.log[..=start as usize].iter().rev().take(limit) {
            if !visit(event.as_ref()) {
                break;
            }
        }
        Ok(())
    }

    fn read_stream_backward(
        &self,
        stream: &[u8],
        from_version: Option<u64>,
        limit: usize,
        visit: &mut Visitor<'_>,
    ) -> Result<()> {
        let state = self.read();
        let Some(positions) = state.streams.get(stream) else {
            return Ok(());
        };
        let Some(start) = backward_start(from_version, positions.len() as u64) else {
            return Ok(());
        };
        for &p in positions[..=start as usize].iter().rev().take(limit) {
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

    fn list_streams(
        &self,
        after: &[u8],
        limit: usize,
        visit: &mut dyn FnMut(&[u8], StreamHead) -> bool,
    ) -> Result<()> {
        let st = self.read();
        let mut names: Vec<&Vec<u8>> = st.streams.keys().filter(|n| n.as_slice() > after).collect();
        names.sort_unstable();
        for name in names.into_iter().take(limit) {
            if let Some(head) = st.head(name) {
                if !visit(name, head) {
                    break;
                }
            }
        }
        Ok(())
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
