//! A spliced side's window shift as the splice keeps it: whether the side
//! announced one (RFC 7323), and the shift, in one byte.

use super::cookie::MAX_WSCALE;

/// Whether a side announced a window shift, and the shift clamped to 14
/// (RFC 7323 2.3: a larger one is taken as 14), in one byte: the shift in
/// the low four bits, [`PRESENT`] above the five a 32-bit shift reads.
/// Kept clamped so that a spliced segment's window check shifts by the
/// byte as it is ([`WScale::scale`]: no `Option` tag, no `min(14)`, no
/// mask); 0 when none was announced, as the window check takes it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WScale(u8);

/// The bit of a shift that was announced: above the low five bits, which
/// are all a 32-bit shift reads (`wrapping_shl`).
const PRESENT: u8 = 0x20;
/// The bits of the shift itself (at most [`MAX_WSCALE`]).
const SHIFT: u8 = 0x0f;

impl WScale {
    /// No window shift announced.
    pub const NONE: WScale = WScale(0);

    /// `w` as announced (`None`: no window scale option), clamped.
    pub const fn new(w: Option<u8>) -> Self {
        match w {
            Some(s) if s > MAX_WSCALE => WScale(PRESENT | MAX_WSCALE),
            Some(s) => WScale(PRESENT | s),
            None => WScale::NONE,
        }
    }

    /// The shift announced, clamped to 14, if any.
    #[inline(always)]
    pub fn get(self) -> Option<u8> {
        (self.0 & PRESENT != 0).then_some(self.0 & SHIFT)
    }

    /// The shift the side's window fields take: 0 when it announced none.
    #[inline(always)]
    pub fn shift(self) -> u32 {
        u32::from(self.0 & SHIFT)
    }

    /// `x` shifted by [`WScale::shift`] (`x << shift`, bits above 32
    /// lost): the byte as it is, since `wrapping_shl` reads only its low
    /// five bits, where [`PRESENT`] is not.
    #[inline(always)]
    pub fn scale(self, x: u32) -> u32 {
        x.wrapping_shl(u32::from(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shift_is_kept_clamped_and_none_is_zero() {
        for s in 0..=u8::MAX {
            let w = WScale::new(Some(s));
            assert_eq!(w.get(), Some(s.min(14)), "{s}");
            assert_eq!(w.shift(), u32::from(s.min(14)), "{s}");
            for x in [0, 1, 0xffff, 0x8000_0001, u32::MAX] {
                assert_eq!(w.scale(x), x << s.min(14), "{s} {x}");
            }
        }
        assert_eq!(WScale::new(None).get(), None);
        assert_eq!(WScale::new(None).shift(), 0);
        assert_eq!(WScale::default(), WScale::NONE);
        assert_ne!(WScale::new(Some(0)), WScale::NONE);
    }
}
