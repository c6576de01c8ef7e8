//! Unit tests of the aggregation: figures worked out by hand.
use super::*;
use crate::score::{PairScore, TokenScore, UnpairedScore};

fn tok(text: &str, start: usize, end: usize, reward: f64, template: bool) -> TokenScore {
    TokenScore {
        template,
        ..TokenScore::for_test(text, start, end, reward)
    }
}

/// A response of `tokens` (text, reward) laid end to end; `eos` appends an EOS token (empty span) of that
/// reward. The sequence reward is the tokens' sum.
fn resp(tokens: &[(&str, f64)], eos: Option<f64>) -> ResponseScore {
    let mut text = String::new();
    let mut ts = Vec::new();
    for (t, r) in tokens {
        let start = text.chars().count();
        text.push_str(t);
        ts.push(tok(t, start, text.chars().count(), *r, false));
    }
    if let Some(r) = eos {
        let n = text.chars().count();
        ts.push(tok("</s>", n, n, r, false));
    }
    let reward = ts.iter().map(|t| t.reward).sum();
    ResponseScore {
        text,
        num_tokens: ts.len(),
        reward,
        logp_policy: reward * 10.0,
        logp_reference: 0.0,
        content_start: None,
        tokens: ts,
    }
}

fn pair(index: usize, chosen: ResponseScore, rejected: ResponseScore) -> RecordScore {
    RecordScore::Pair(PairScore {
        index,
        prompt: String::new(),
        margin: chosen.reward - rejected.reward,
        preference_prob: 0.5,
        chosen,
        rejected,
        warnings: Vec::new(),
        prompt_tokens: Vec::new(),
    })
}

fn unpaired(index: usize, response: ResponseScore) -> RecordScore {
    RecordScore::Unpaired(UnpairedScore {
        index,
        prompt: String::new(),
        response,
        warnings: Vec::new(),
        prompt_tokens: Vec::new(),
    })
}

/// Two pairs and an unpaired response whose figures are worked out by hand in the tests.
fn small() -> Vec<RecordScore> {
    vec![
        pair(
            0,
            resp(
                &[(" It", 0.1), (" is", 0.2), (" Par", -0.3), ("is.", 0.1)],
                Some(0.05),
            ),
            resp(&[(" It", 0.1), (" is", -0.1), (" Rome.", -0.5)], Some(-0.1)),
        ),
        pair(
            1,
            resp(&[(" Paris.", 0.2), (" Paris.", 0.4)], Some(0.0)),
            resp(&[(" It", -0.2), (" is.", 0.3)], Some(0.0)),
        ),
        unpaired(2, resp(&[(" It", 0.5), (" is", -0.5)], None)),
    ]
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

fn find<'a>(units: &'a [UnitStats], text: &str) -> &'a UnitStats {
    units
        .iter()
        .find(|u| u.text == text)
        .unwrap_or_else(|| panic!("no unit {text:?}"))
}

#[test]
fn words_are_counted_summed_and_shared_as_worked_out_by_hand() {
    let f = features(&small(), &FeatureOptions::default());
    assert_eq!((f.records, f.pairs, f.unpaired), (3, 2, 1));
    assert_eq!(f.tokens, [8, 7, 2]);
    // Sorted by summed reward, most negative first: Rome. -0.5, is -0.4, is. 0.3, Paris. 0.4, It 0.5.
    let order: Vec<&str> = f.units.iter().map(|u| u.text.as_str()).collect();
    assert_eq!(order, ["Rome.", "is", "is.", "Paris.", "It"]);

    let it = find(&f.units, "It");
    assert_eq!(
        (it.chosen.count, it.rejected.count, it.response.count),
        (1, 2, 1)
    );
    assert_eq!(
        (it.chosen.records, it.rejected.records, it.response.records),
        (1, 2, 1)
    );
    assert_eq!(it.records, 3);
    assert!(close(it.chosen.sum, 0.1));
    assert!(close(it.rejected.sum, -0.1));
    assert!(close(it.response.sum, 0.5));
    assert!(close(it.sum(), 0.5));
    assert!(close(it.mean().unwrap_or(f64::NAN), 0.125));
    // Mean chosen 0.1 - mean rejected -0.05.
    assert!(close(it.diff().unwrap_or(f64::NAN), 0.15));

    // "Paris." is one word of two tokens (" Par" + "is.") in the first pair and two one-token words later.
    let paris = find(&f.units, "Paris.");
    assert_eq!((paris.chosen.count, paris.chosen.records), (3, 2));
    assert!(close(paris.chosen.sum, 0.4));
    assert_eq!(paris.rejected.count, 0);
    assert_eq!(paris.rejected.mean(), None);
    assert_eq!(paris.diff(), None);
    assert_eq!(paris.records, 2);

    let is = find(&f.units, "is");
    assert_eq!(is.records, 2);
    assert!(close(is.diff().unwrap_or(f64::NAN), 0.3));

    // |unit r| over every occurrence: It 0.9, is 0.8, Paris. 0.8, Rome. 0.5, is. 0.3, </s> 0.15.
    assert!(close(f.total_abs, 3.45));
    assert!(close(it.share, 0.9 / 3.45));
    let shares: f64 = f.units.iter().chain(&f.apart).map(|u| u.share).sum();
    assert!(close(shares, 1.0));

    // The EOS is kept apart, not a word.
    assert_eq!(f.apart.len(), 1);
    let eos = &f.apart[0];
    assert_eq!((eos.text.as_str(), eos.kind), ("</s>", UnitKind::Special));
    assert_eq!(
        (eos.chosen.count, eos.rejected.count, eos.records),
        (2, 2, 2)
    );
    assert!(close(eos.sum(), -0.05));
    assert_eq!(f.distinct, 5);
}

#[test]
fn minimum_count_and_sort_keys() {
    let opts = FeatureOptions {
        min_count: 3,
        ..FeatureOptions::default()
    };
    let f = features(&small(), &opts);
    let order: Vec<&str> = f.units.iter().map(|u| u.text.as_str()).collect();
    assert_eq!(order, ["is", "Paris.", "It"]);
    assert_eq!(f.distinct, 5);
    let sorted = |key: SortKey, reverse: bool| -> Vec<String> {
        let mut f = features(&small(), &FeatureOptions::default());
        f.sort(key, reverse);
        f.units.iter().map(|u| u.text.clone()).collect()
    };
    assert_eq!(
        sorted(SortKey::Sum, true),
        ["It", "Paris.", "is.", "is", "Rome."]
    );
    // Counts descending, ties by text: It 4, Paris. 3, is 3, Rome. 1, is. 1.
    assert_eq!(
        sorted(SortKey::Count, false),
        ["It", "Paris.", "is", "Rome.", "is."]
    );
    // Largest chosen - rejected first; units missing a side last (by text).
    assert_eq!(
        sorted(SortKey::Diff, false),
        ["is", "It", "Paris.", "Rome.", "is."]
    );
    assert_eq!(
        sorted(SortKey::SideSum(Side::Rejected), false),
        ["Rome.", "It", "is", "is.", "Paris."]
    );
    assert_eq!(
        sorted(SortKey::Text, false),
        ["It", "Paris.", "Rome.", "is", "is."]
    );
    for key in SortKey::all() {
        assert_eq!(key.name().parse::<SortKey>(), Ok(key));
    }
    assert!("nope".parse::<SortKey>().is_err());
}

#[test]
fn tokens_and_ngrams() {
    let opts = FeatureOptions {
        unit: FeatureUnit::Token,
        ..FeatureOptions::default()
    };
    let f = features(&small(), &opts);
    let paris = find(&f.units, " Paris.");
    assert_eq!((paris.chosen.count, paris.chosen.records), (2, 1));
    assert!(close(paris.chosen.sum, 0.6));
    let par = find(&f.units, " Par");
    assert!(close(par.sum(), -0.3));
    // Token shares are shares of all |r_t|: over the 17 tokens, .75 + .8 + .6 + .5 + 1.0 = 3.65.
    assert!(close(f.total_abs, 3.65));
    assert!(close(paris.share, 0.6 / 3.65));

    let opts = FeatureOptions {
        unit: FeatureUnit::ngram(2, 2).expect("valid"),
        ..FeatureOptions::default()
    };
    let f = features(&small(), &opts);
    let it_is = find(&f.units, "It is");
    assert_eq!(
        (
            it_is.chosen.count,
            it_is.rejected.count,
            it_is.response.count
        ),
        (1, 1, 1)
    );
    assert_eq!(it_is.records, 2);
    assert!(close(it_is.chosen.sum, 0.3));
    assert!(close(it_is.rejected.sum, 0.0));
    assert!(close(it_is.response.sum, 0.0));
    assert!(close(find(&f.units, "is Paris.").sum(), 0.0));
    assert!(close(find(&f.units, "Paris. Paris.").sum(), 0.6));
    assert_eq!(f.units.len(), 5);
    assert!(FeatureUnit::ngram(0, 2).is_err());
    assert!(FeatureUnit::ngram(3, 2).is_err());
    assert_eq!(
        FeatureUnit::ngram(1, 3).map(FeatureUnit::name).ok(),
        Some("1-3-gram".into())
    );
}

#[test]
fn ngrams_stop_at_template_tokens_but_not_at_white_space() {
    // "a\nb" then a template token, then "c".
    let text = "a\nb<t>c";
    let mut t = tok("<t>", 3, 6, 1.0, true);
    t.template = true;
    let tokens = vec![
        tok("a", 0, 1, 0.1, false),
        tok("\n", 1, 2, 5.0, false),
        tok("b", 2, 3, 0.2, false),
        t,
        tok("c", 6, 7, 0.4, false),
    ];
    let r = ResponseScore {
        text: text.into(),
        num_tokens: 5,
        reward: 6.7,
        logp_policy: 0.0,
        logp_reference: 0.0,
        content_start: None,
        tokens,
    };
    let spans = unit_spans(&r, FeatureUnit::ngram(2, 2).expect("valid"));
    let words: Vec<(&str, Range<usize>)> = spans
        .iter()
        .filter(|s| s.kind == UnitKind::Word)
        .map(|s| (s.text.as_str(), s.tokens.clone()))
        .collect();
    assert_eq!(words, [("a b", 0..3)]);
    let ab = spans.iter().find(|s| s.text == "a b").expect("a b");
    // The words' rewards only, not the newline's.
    assert!(close(ab.reward, 0.3));
    let apart: Vec<(&str, UnitKind)> = spans
        .iter()
        .filter(|s| s.kind != UnitKind::Word)
        .map(|s| (s.text.as_str(), s.kind))
        .collect();
    assert_eq!(apart, [("\n", UnitKind::Space), ("<t>", UnitKind::Special)]);
}

#[test]
fn position_profile_and_length_bias_as_worked_out_by_hand() {
    let opts = FeatureOptions {
        bins: 2,
        ..FeatureOptions::default()
    };
    let f = features(&small(), &opts);
    // Chosen: 5 tokens at (t + 1/2)/5 = .1 .3 .5 .7 .9 -> bins 0 0 1 1 1; 3 tokens at 1/6 1/2 5/6 -> 0 1 1.
    let c = f.position.side(Side::Chosen);
    assert_eq!((c[0].count, c[1].count), (3, 5));
    assert!(close(c[0].sum, 0.1 + 0.2 + 0.2));
    assert!(close(c[1].sum, -0.3 + 0.1 + 0.05 + 0.4 + 0.0));
    assert!(close(c[0].mean().unwrap_or(f64::NAN), 0.5 / 3.0));
    assert!(close(c[1].mean_abs().unwrap_or(f64::NAN), 0.85 / 5.0));
    // Unpaired: 2 tokens at 1/4 and 3/4.
    let u = f.position.side(Side::Response);
    assert_eq!((u[0].count, u[1].count), (1, 1));
    assert!(close(u[0].sum, 0.5));

    // Two chosen responses: (5 tokens, R 0.15) and (3, 0.6): a line through both.
    let l = f.length.chosen;
    assert_eq!(l.n, 2);
    assert!(close(
        l.slope.unwrap_or(f64::NAN),
        (0.6 - 0.15) / (3.0 - 5.0)
    ));
    assert!(close(l.pearson.unwrap_or(f64::NAN), -1.0));
    assert!(close(l.mean_tokens, 4.0));
    // Rejected: (4, -0.6) and (3, 0.1).
    assert!(close(f.length.rejected.slope.unwrap_or(f64::NAN), -0.7));
    // One unpaired response: no line.
    assert_eq!(f.length.response.slope, None);
    assert_eq!(f.length.response.pearson, None);
    // Every response: the textbook two-pass formulas.
    let pts = [(5.0, 0.15), (3.0, 0.6), (4.0, -0.6), (3.0, 0.1), (2.0, 0.0)];
    let n = pts.len() as f64;
    let mx = pts.iter().map(|p| p.0).sum::<f64>() / n;
    let my = pts.iter().map(|p| p.1).sum::<f64>() / n;
    let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let syy: f64 = pts.iter().map(|p| (p.1 - my).powi(2)).sum();
    let all = f.length.all;
    assert_eq!(all.n, 5);
    assert!(close(all.slope.unwrap_or(f64::NAN), sxy / sxx));
    assert!(close(
        all.intercept.unwrap_or(f64::NAN),
        my - sxy / sxx * mx
    ));
    assert!(close(
        all.pearson.unwrap_or(f64::NAN),
        sxy / (sxx * syy).sqrt()
    ));
}

#[test]
fn parallel_chunks_and_one_at_a_time_give_the_same_bits() {
    let mut rng = crate::rng::Rng::new(7);
    let vocab = [" a", " b", " c", " d.", " e,", "f", "\n"];
    let records: Vec<RecordScore> = (0..(3 * CHUNK + 5))
        .map(|i| {
            let mut make = || {
                let n = 1 + rng.below(12);
                let toks: Vec<(&str, f64)> = (0..n)
                    .map(|_| {
                        let r = (rng.below(2001) as f64 - 1000.0) / 3317.0;
                        (*rng.pick(&vocab), r)
                    })
                    .collect();
                resp(&toks, Some(0.01))
            };
            if i % 7 == 3 {
                unpaired(i, make())
            } else {
                let c = make();
                pair(i, c, make())
            }
        })
        .collect();
    for unit in [
        FeatureUnit::Word,
        FeatureUnit::Token,
        FeatureUnit::ngram(1, 3).expect("valid"),
    ] {
        let opts = FeatureOptions {
            unit,
            ..FeatureOptions::default()
        };
        let parallel = features(&records, &opts);
        let mut b = FeatureBuilder::new(&opts);
        for r in &records {
            b.add(r);
        }
        assert_eq!(parallel, b.finish(), "{}", unit.name());
        assert_eq!(parallel.records, records.len());
    }
}

#[test]
fn records_holding_a_unit_and_its_rows() {
    let recs = small();
    assert_eq!(
        records_holding(&recs, FeatureUnit::Word, "It", UnitKind::Word),
        [0, 1, 2]
    );
    assert_eq!(
        records_holding(&recs, FeatureUnit::Word, "Paris.", UnitKind::Word),
        [0, 1]
    );
    let f = features(&recs, &FeatureOptions::default());
    let rows = f.rows();
    assert_eq!(rows.len(), 6);
    assert_eq!((rows[0].rank, rows[0].unit.as_str()), (1, "Rome."));
    assert_eq!((rows[5].rank, rows[5].kind), (1, "special"));
    let mut csv = Vec::new();
    f.write_csv(&mut csv).expect("csv");
    let text = String::from_utf8(csv).expect("utf8");
    assert!(text.starts_with("rank,unit,kind,count,records,sum,mean,share,diff,chosen_count"));
    assert_eq!(text.lines().count(), 7);
    // A mean that does not exist is an empty CSV field and a JSON null.
    let paris = rows.iter().find(|r| r.unit == "Paris.").expect("row");
    let json = serde_json::to_value(paris).expect("json");
    assert_eq!(json["rejected_mean"], serde_json::Value::Null);
    assert_eq!(json["diff"], serde_json::Value::Null);
}

#[test]
fn scaling_the_rewards_equals_scoring_at_another_beta() {
    let records = small();
    let base = features(&records, &FeatureOptions::default());
    let mut scaled = base.clone();
    scaled.set_beta(0.1, 0.3);
    let mut tripled = records.clone();
    // The records' rewards are 0.1 * (log pi - log pi_ref): beta 0.3 triples them.
    for r in &mut tripled {
        r.set_beta(0.3);
    }
    let direct = features(&tripled, &FeatureOptions::default());
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * (1.0 + a.abs());
    assert_eq!(scaled.units.len(), direct.units.len());
    for (a, b) in scaled.units.iter().zip(&direct.units) {
        assert_eq!(a.text, b.text);
        assert!(
            close(a.sum(), b.sum()) && close(a.abs_sum(), b.abs_sum()),
            "{a:?} {b:?}"
        );
        assert!(close(a.share, b.share));
    }
    assert!(close(scaled.total_abs, direct.total_abs));
}
