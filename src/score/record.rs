//! A record scored: its responses tokenised (plain text or a conversation through the chat template), run through
//! both models, and assembled into a [`RecordScore`] with rewards at the scorer's beta.

use super::metrics::{self, PositionMetrics, sigmoid};
use super::result::{PairScore, RecordScore, ResponseScore, TokenScore, TopToken, UnpairedScore};
use super::{ScoreMemo, ScoredTexts, Scorer};
use crate::chat::Conversation;
use crate::data::Record;
use crate::error::{Error, Result};
use crate::tokenize::{EncodedRecord, EncodedSequence, encode_conversation, encode_record};

impl Scorer {
    /// Scores one record (a conversational one through the chat template).
    pub fn score_record(&self, index: usize, record: &Record) -> Result<RecordScore> {
        self.record_score(index, record, None)
    }

    /// Scores one record like [`Self::score_record`], reusing what `memo` kept of the last record scored with it
    /// (the prompt's and each response's unchanged start: an edit reruns the models from its first changed token
    /// only) and keeping this one's for the next. The same numbers, to rounding.
    pub fn score_record_reusing(
        &self,
        index: usize,
        record: &Record,
        memo: &mut ScoreMemo,
    ) -> Result<RecordScore> {
        self.record_score(index, record, Some(memo))
    }

    fn record_score(
        &self,
        index: usize,
        record: &Record,
        memo: Option<&mut ScoreMemo>,
    ) -> Result<RecordScore> {
        let scored = match record.chat() {
            Some(conv) => self.conversation(conv, memo)?,
            None => self.prompted(record.prompt(), &record.responses(), memo)?,
        };
        let ScoredTexts {
            mut responses,
            warnings,
            prompt_tokens,
        } = scored;
        Ok(match record {
            Record::Pair { prompt, .. } => {
                let rejected = responses.pop().ok_or_else(missing_response)?;
                let chosen = responses.pop().ok_or_else(missing_response)?;
                let margin = chosen.reward - rejected.reward;
                RecordScore::Pair(PairScore {
                    index,
                    prompt: prompt.clone(),
                    chosen,
                    rejected,
                    margin,
                    preference_prob: sigmoid(margin),
                    warnings,
                    prompt_tokens,
                })
            }
            Record::Unpaired { prompt, .. } => RecordScore::Unpaired(UnpairedScore {
                index,
                prompt: prompt.clone(),
                response: responses.pop().ok_or_else(missing_response)?,
                warnings,
                prompt_tokens,
            }),
        })
    }

    /// Scores each of `responses` after `prompt`; returns one [`ResponseScore`] per response and the warnings.
    pub fn score_texts(
        &self,
        prompt: &str,
        responses: &[&str],
    ) -> Result<(Vec<ResponseScore>, Vec<String>)> {
        let s = self.score_prompted(prompt, responses)?;
        Ok((s.responses, s.warnings))
    }

    /// Scores each of `responses` after the plain-text `prompt`, with the prompt's tokens.
    pub fn score_prompted(&self, prompt: &str, responses: &[&str]) -> Result<ScoredTexts> {
        self.prompted(prompt, responses, None)
    }

    fn prompted(
        &self,
        prompt: &str,
        responses: &[&str],
        memo: Option<&mut ScoreMemo>,
    ) -> Result<ScoredTexts> {
        let enc = encode_record(
            &self.tokenizer,
            self.options.mode,
            prompt,
            responses,
            Some(self.max_length()),
        )?;
        self.score_encoded(enc, false, memo)
    }

    /// Scores a conversation's completions, rendered with the chat template.
    pub fn score_conversation(&self, conv: &Conversation) -> Result<ScoredTexts> {
        self.conversation(conv, None)
    }

    fn conversation(
        &self,
        conv: &Conversation,
        memo: Option<&mut ScoreMemo>,
    ) -> Result<ScoredTexts> {
        let template = self.chat_template().ok_or_else(|| {
            Error::Record(format!(
                "the record is conversational (lists of messages) but the tokenizer ({}) has no chat template; give one with --chat-template FILE",
                self.policy.info().path.display()
            ))
        })?;
        let enc = encode_conversation(
            &self.tokenizer,
            template,
            self.options.mode,
            conv,
            Some(self.max_length()),
        )?;
        self.score_encoded(enc, true, memo)
    }

    fn score_encoded(
        &self,
        enc: EncodedRecord,
        chat: bool,
        memo: Option<&mut ScoreMemo>,
    ) -> Result<ScoredTexts> {
        let metrics = match memo {
            Some(memo) => self.score_sequences_reusing(&enc.sequences, memo)?,
            None => self.score_sequences(&enc.sequences)?,
        };
        let responses = enc
            .sequences
            .iter()
            .zip(metrics)
            .zip(enc.texts.iter().zip(&enc.content_offsets))
            .map(|((seq, m), (text, offset))| {
                let mut r = self.response_score(text, seq, &m);
                r.content_start = if chat { *offset } else { None };
                r
            })
            .collect();
        Ok(ScoredTexts {
            responses,
            warnings: enc.warnings,
            prompt_tokens: enc.prompt,
        })
    }

    pub(crate) fn response_score(
        &self,
        text: &str,
        seq: &EncodedSequence,
        m: &[PositionMetrics],
    ) -> ResponseScore {
        let beta = self.options.beta;
        let top = |alts: &[metrics::Alternative]| {
            alts.iter()
                .map(|a| TopToken {
                    id: a.id,
                    text: self.tokenizer.token_text(a.id),
                    logp: a.logp,
                })
                .collect()
        };
        let tokens: Vec<TokenScore> = seq
            .tokens
            .iter()
            .zip(m)
            .map(|(t, pm)| TokenScore {
                id: t.id,
                text: t.text.clone(),
                start: t.start,
                end: t.end,
                template: t.template,
                logp_policy: pm.policy.logp,
                logp_reference: pm.reference.logp,
                reward: 0.0,
                cum_reward: 0.0,
                kl: pm.kl,
                entropy_policy: pm.policy.entropy,
                entropy_reference: pm.reference.entropy,
                rank_policy: pm.policy.rank,
                rank_reference: pm.reference.rank,
                top_policy: top(&pm.policy.top),
                top_reference: top(&pm.reference.top),
            })
            .collect();
        let logp_policy = tokens.iter().map(|t| t.logp_policy).sum::<f64>();
        let logp_reference = tokens.iter().map(|t| t.logp_reference).sum::<f64>();
        let mut score = ResponseScore {
            text: text.to_string(),
            num_tokens: tokens.len(),
            reward: 0.0,
            logp_policy,
            logp_reference,
            content_start: None,
            tokens,
        };
        // The rewards, computed where a change of beta recomputes them.
        score.set_beta(beta);
        score
    }
}

fn missing_response() -> Error {
    Error::Record("internal error: a response was not scored".into())
}
