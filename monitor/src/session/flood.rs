//! Telling a DHCP flood from a boot storm: the number of new client MACs
//! per second. A fleet that boots at once brings a thousand or so new MACs
//! a second (10,000 machines within 10 s); a DHCP starvation tool brings
//! hundreds of thousands, each sending one DISCOVER with a forged MAC and
//! never another message. While the rate is above the bound, new clients
//! are suspects: one that does nothing but that one DISCOVER ends as
//! `flood`, not as a PXE-E51 page.

/// A second, in ns.
const SECOND: u64 = 1_000_000_000;

/// The new-client rate over whole seconds of event time.
#[derive(Debug)]
pub struct FloodDetector {
    /// New client MACs in one second above which a flood is under way.
    pub max_new_per_s: u32,
    /// The second being counted (event time / 1 s).
    second: u64,
    count: u32,
    /// Clients opened in the current second before it was known to be a
    /// flood (at most `max_new_per_s`): marked once it is.
    this_second: Vec<[u8; 6]>,
    active: bool,
    /// Flood seconds seen (for the log line's rate).
    pub peak_per_s: u32,
}

/// What the detector says of a client that just appeared.
pub enum Seen {
    /// No flood: an ordinary client.
    Calm,
    /// A flood: this client is a suspect.
    Suspect,
    /// The flood starts with this client: it and these earlier ones of the
    /// same second are suspects.
    Started(Vec<[u8; 6]>),
}

impl FloodDetector {
    pub fn new(max_new_per_s: u32) -> Self {
        FloodDetector {
            max_new_per_s: max_new_per_s.max(1),
            second: 0,
            count: 0,
            this_second: Vec::new(),
            active: false,
            peak_per_s: 0,
        }
    }

    /// Whether a flood is under way.
    pub fn active(&self) -> bool {
        self.active
    }

    /// A client that was not being followed appeared at `now`.
    pub fn new_client(&mut self, mac: [u8; 6], now: u64) -> Seen {
        self.roll(now);
        self.count += 1;
        self.peak_per_s = self.peak_per_s.max(self.count);
        if self.active {
            return Seen::Suspect;
        }
        if self.count > self.max_new_per_s {
            self.active = true;
            return Seen::Started(std::mem::take(&mut self.this_second));
        }
        self.this_second.push(mac);
        Seen::Calm
    }

    /// Moves to the second of `now`. A flood ends with the first second
    /// (counted, or silent) below half the bound.
    pub fn roll(&mut self, now: u64) {
        let second = now / SECOND;
        if second == self.second {
            return;
        }
        let quiet = second > self.second + 1 || self.count < self.max_new_per_s / 2;
        if self.active && quiet {
            self.active = false;
        }
        if !self.active {
            self.peak_per_s = 0;
        }
        self.second = second;
        self.count = 0;
        self.this_second.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mac(i: u32) -> [u8; 6] {
        let [_, a, b, c] = i.to_be_bytes();
        [2, 0, 0, a, b, c]
    }

    #[test]
    fn a_storm_is_calm_a_flood_is_not() {
        let mut d = FloodDetector::new(100);
        // 100 new clients a second for 10 s: a storm at the bound.
        for i in 0..1000u32 {
            let at = u64::from(i) * SECOND / 100;
            assert!(matches!(d.new_client(mac(i), at), Seen::Calm), "client {i}");
        }
        assert!(!d.active());
        // 150 in the next second: the 101st starts the flood and names the
        // 100 before it; the rest are suspects.
        let start = 20 * SECOND;
        let mut suspects = 0;
        for i in 0..150u32 {
            match d.new_client(mac(10_000 + i), start + u64::from(i)) {
                Seen::Calm => {}
                Seen::Started(earlier) => {
                    assert_eq!(earlier.len(), 100);
                    suspects += 1 + earlier.len();
                }
                Seen::Suspect => suspects += 1,
            }
        }
        assert_eq!(suspects, 150);
        assert!(d.active());
        assert_eq!(d.peak_per_s, 150);
        // A quiet second ends it.
        d.roll(start + 2 * SECOND);
        assert!(!d.active());
        assert!(matches!(
            d.new_client(mac(1), start + 2 * SECOND),
            Seen::Calm
        ));
    }
}
