//! An [`Assembler`] allocated on first use: most messages are framed whole by the fast paths
//! (`whole_request`, `whole_reply`) and never need one, and an idle assembler inline in each
//! reader cost ~170 bytes per direction of every connection (100 000 live connections: 33 MB).
//! Reads of an assembler that does not exist answer as an idle one would.

use crate::parser::Token;
use crate::summary::{AsmError, Assembler, Item, Keep, Step};

#[derive(Debug)]
pub(super) struct LazyAsm {
    keep: Keep,
    inner: Option<Box<Assembler>>,
}

impl LazyAsm {
    pub(super) fn new(keep: Keep) -> Self {
        LazyAsm { keep, inner: None }
    }

    fn get(&mut self) -> &mut Assembler {
        let keep = self.keep;
        self.inner
            .get_or_insert_with(|| Box::new(Assembler::new(keep)))
    }

    pub(super) fn set_light(&mut self, light: bool, full: Keep) {
        self.keep = Assembler::light_keep(light, full);
        if let Some(a) = &mut self.inner {
            a.set_light(light, full);
        }
    }

    pub(super) fn keep(&self) -> Keep {
        self.keep
    }

    pub(super) fn is_idle(&self) -> bool {
        self.inner.as_ref().is_none_or(|a| a.is_idle())
    }

    pub(super) fn depth(&self) -> usize {
        self.inner.as_ref().map_or(0, |a| a.depth())
    }

    pub(super) fn in_top_array(&self) -> bool {
        self.inner.as_ref().is_some_and(|a| a.in_top_array())
    }

    pub(super) fn reset(&mut self) {
        if let Some(a) = &mut self.inner {
            a.reset();
        }
    }

    pub(super) fn take(&mut self) -> Option<(Item, Option<Item>)> {
        self.inner.as_mut()?.take()
    }

    pub(super) fn take_partial(&mut self) -> Option<Item> {
        self.inner.as_mut()?.take_partial()
    }

    pub(super) fn token(&mut self, t: &Token<'_>) -> Result<Step, AsmError> {
        self.get().token(t)
    }

    pub(super) fn skipped(&mut self, bytes: &[u8], left: u64) -> Step {
        self.get().skipped(bytes, left)
    }

    pub(super) fn skip_gap(&mut self) {
        self.get().skip_gap();
    }

    pub(super) fn counting_left(&self) -> Option<u64> {
        self.inner.as_ref()?.counting_left()
    }

    pub(super) fn count_scalars(&mut self, k: u64) -> Step {
        self.get().count_scalars(k)
    }

    /// The full lengths of strings cut to the display limit in the current message (taken).
    pub(super) fn take_truncated(&mut self) -> Vec<u64> {
        self.inner
            .as_mut()
            .map(|a| std::mem::take(&mut a.truncated))
            .unwrap_or_default()
    }

    /// Add full lengths of cut strings to the current message's.
    pub(super) fn add_truncated(&mut self, t: &[u64]) {
        if !t.is_empty() {
            self.get().truncated.extend_from_slice(t);
        }
    }
}
