//! Summing scored records into partial results, merged in a fixed order.

use super::*;

/// A unit's running figures while records are added.
#[derive(Debug, Clone)]
pub(super) struct UnitAcc {
    sides: [SideStats; 3],
    records: usize,
    /// The last record (stamp) that counted it, so a record holding it twice counts once.
    last: u64,
    /// The same per side.
    side_last: [u64; 3],
}

/// Partial figures of some records.
#[derive(Debug, Clone)]
pub(super) struct Partial {
    unit: FeatureUnit,
    /// Per kind (word, space, special): text -> figures.
    maps: [HashMap<String, UnitAcc>; 3],
    stamp: u64,
    records: usize,
    pairs: usize,
    unpaired: usize,
    tokens: [usize; 3],
    position: PositionProfile,
    moments: [Moments; 3],
}

impl Partial {
    pub(super) fn new(options: &FeatureOptions) -> Self {
        Self {
            unit: options.unit,
            maps: Default::default(),
            stamp: 0,
            records: 0,
            pairs: 0,
            unpaired: 0,
            tokens: [0; 3],
            position: PositionProfile::new(options.bins),
            moments: [Moments::default(); 3],
        }
    }

    pub(super) fn add_record(&mut self, responses: &[(Side, &ResponseScore)]) {
        self.stamp += 1;
        self.records += 1;
        if responses.iter().any(|(s, _)| *s == Side::Response) {
            self.unpaired += 1;
        } else {
            self.pairs += 1;
        }
        for &(side, r) in responses {
            self.add_response(side, r);
        }
    }

    pub(super) fn add_response(&mut self, side: Side, response: &ResponseScore) {
        let stamp = self.stamp;
        let si = side.index();
        for span in unit_spans(response, self.unit) {
            let map = &mut self.maps[usize::from(kind_rank(span.kind))];
            let acc = map.entry(span.text).or_insert_with(|| UnitAcc {
                sides: [SideStats::default(); 3],
                records: 0,
                last: 0,
                side_last: [0; 3],
            });
            if acc.last != stamp {
                acc.records += 1;
                acc.last = stamp;
            }
            if acc.side_last[si] != stamp {
                acc.sides[si].records += 1;
                acc.side_last[si] = stamp;
            }
            let s = &mut acc.sides[si];
            s.count += 1;
            s.sum += span.reward;
            s.abs_sum += span.reward.abs();
        }
        self.tokens[si] += response.tokens.len();
        self.position.add(side, response);
        self.moments[si].add(response.tokens.len() as f64, response.reward);
    }

    pub(super) fn merge(&mut self, o: Partial) {
        for (mine, theirs) in self.maps.iter_mut().zip(o.maps) {
            for (text, acc) in theirs {
                match mine.get_mut(&text) {
                    Some(m) => {
                        for (a, b) in m.sides.iter_mut().zip(&acc.sides) {
                            a.merge(b);
                        }
                        m.records += acc.records;
                    }
                    None => {
                        mine.insert(
                            text,
                            UnitAcc {
                                last: 0,
                                side_last: [0; 3],
                                ..acc
                            },
                        );
                    }
                }
            }
        }
        self.records += o.records;
        self.pairs += o.pairs;
        self.unpaired += o.unpaired;
        for i in 0..3 {
            self.tokens[i] += o.tokens[i];
            self.moments[i].merge(&o.moments[i]);
        }
        self.position.merge(&o.position);
    }

    pub(super) fn finish(self, options: &FeatureOptions) -> Features {
        let mut total_abs = 0.0;
        let mut tables: [Vec<UnitStats>; 3] = Default::default();
        for (k, map) in self.maps.into_iter().enumerate() {
            let kind = [UnitKind::Word, UnitKind::Space, UnitKind::Special][k];
            // Sum |reward| in a fixed order (by text), so that the total does not depend on hashing.
            let mut units: Vec<UnitStats> = map
                .into_iter()
                .map(|(text, acc)| UnitStats {
                    text,
                    kind,
                    chosen: acc.sides[0],
                    rejected: acc.sides[1],
                    response: acc.sides[2],
                    records: acc.records,
                    share: 0.0,
                })
                .collect();
            units.sort_by(|a, b| a.text.cmp(&b.text));
            tables[k] = units;
        }
        for u in tables.iter().flatten() {
            total_abs += u.abs_sum();
        }
        for u in tables.iter_mut().flatten() {
            u.share = if total_abs > 0.0 {
                u.abs_sum() / total_abs
            } else {
                0.0
            };
        }
        let [mut units, space, special] = tables;
        let distinct = units.len();
        let mut apart: Vec<UnitStats> = space.into_iter().chain(special).collect();
        let keep = |u: &UnitStats| u.count() >= options.min_count;
        units.retain(keep);
        apart.retain(keep);
        sort_units(&mut units, options.sort, options.reverse);
        sort_units(&mut apart, options.sort, options.reverse);
        let mut all = Moments::default();
        for m in &self.moments {
            all.merge(m);
        }
        Features {
            unit: self.unit,
            options: *options,
            records: self.records,
            pairs: self.pairs,
            unpaired: self.unpaired,
            tokens: self.tokens,
            total_abs,
            distinct,
            units,
            apart,
            position: self.position,
            length: LengthBias {
                chosen: self.moments[0].fit(),
                rejected: self.moments[1].fit(),
                response: self.moments[2].fit(),
                all: all.fit(),
            },
        }
    }
}

/// The responses of a record with their sides.
pub(super) fn sides_of(record: &RecordScore) -> Vec<(Side, &ResponseScore)> {
    match record {
        RecordScore::Pair(p) => vec![(Side::Chosen, &p.chosen), (Side::Rejected, &p.rejected)],
        RecordScore::Unpaired(u) => vec![(Side::Response, &u.response)],
    }
}
