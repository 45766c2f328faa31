//! Cost per million records from the measured figures and public list prices (us-east-1,
//! on-demand, no free tier), printed with every assumption so the arithmetic can be
//! checked and redone with other prices.

use std::collections::BTreeMap;

use crate::sync::SyncReport;
use crate::tally::OperationCount;

/// Public list prices, us-east-1 (as known in late 2025).
pub struct Prices {
    /// Lambda, arm64, per GB-second (first 7.5 billion GB-s a month).
    pub lambda_gb_second: f64,
    /// Lambda, per request.
    pub lambda_request: f64,
    /// SQS standard queue, per request (each 64 KB chunk of a payload is one request).
    pub sqs_request: f64,
    /// DynamoDB on-demand, per write request unit (1 KB) and read request unit (4 KB,
    /// strongly consistent); the November 2024 prices.
    pub dynamodb_wru: f64,
    pub dynamodb_rru: f64,
    /// Secrets Manager, per API call ($0.05 per 10,000); the $0.40 per secret-month is not
    /// per record.
    pub secrets_call: f64,
}

pub const US_EAST_1: Prices = Prices {
    lambda_gb_second: 0.000_013_333_4,
    lambda_request: 0.20 / 1e6,
    sqs_request: 0.40 / 1e6,
    dynamodb_wru: 0.625 / 1e6,
    dynamodb_rru: 0.125 / 1e6,
    secrets_call: 0.05 / 1e4,
};

const WRITES: [&str; 6] = [
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "BatchWriteItem",
    "TransactWriteItems",
    "ConditionCheckItem",
];

/// Cost of one million records, per service, in USD.
pub struct Costs {
    pub lambda_duration: f64,
    pub lambda_requests: f64,
    pub sqs: f64,
    pub dynamodb_writes: f64,
    pub dynamodb_reads: f64,
    pub secrets: f64,
}

impl Costs {
    pub fn total(&self) -> f64 {
        self.lambda_duration
            + self.lambda_requests
            + self.sqs
            + self.dynamodb_writes
            + self.dynamodb_reads
            + self.secrets
    }
}

/// Request units per DynamoDB item read or written (DynamoDB bills a write by the larger
/// of the item before and after it, a strongly consistent read by 4 KB of the item):
/// `batch_write_kb` per write that records an answered batch (the page's item then holds
/// its record ids: the largest page item), `write_kb` per other write (the execution item,
/// or a page item before its batches), `read_4kb` per item read (a page's first delivery
/// reads its item before any batch; a redelivery's read of a page with batches costs up to
/// `batch_write_kb / 4` RRU, not counted).
pub struct ItemUnits {
    pub write_kb: u64,
    pub batch_write_kb: u64,
    pub read_4kb: u64,
}

/// Scales `report` to a million records. `memory_gb` is the worker's configured memory
/// (Lambda bills configured, not used, memory).
pub fn per_million(report: &SyncReport, memory_gb: f64, units: &ItemUnits, p: &Prices) -> Costs {
    let scale = 1e6 / report.records.max(1) as f64;
    let of = |ops: &BTreeMap<String, OperationCount>, service: &str, writes: Option<bool>| {
        ops.iter()
            .filter(|(name, _)| {
                let Some((s, op)) = name.split_once('.') else {
                    return false;
                };
                s == service && writes.is_none_or(|w| WRITES.contains(&op) == w)
            })
            .map(|(_, c)| *c)
            .collect::<Vec<OperationCount>>()
    };
    let units_of = |counts: Vec<OperationCount>| counts.iter().map(|c| c.units as f64).sum::<f64>();
    let ops = &report.operations;
    let sqs = units_of(of(ops, "SQS", None)) + units_of(of(&report.event_source, "SQS", None));
    let write_units: f64 = of(ops, "DynamoDB", Some(true))
        .iter()
        .map(|c| {
            let batch = c.batch_writes.min(c.units);
            ((c.units - batch) * units.write_kb + batch * units.batch_write_kb) as f64
        })
        .sum();
    Costs {
        lambda_duration: report.handler_seconds * memory_gb * p.lambda_gb_second * scale,
        lambda_requests: (report.invocations + 1) as f64 * p.lambda_request * scale,
        sqs: sqs * p.sqs_request * scale,
        dynamodb_writes: write_units * p.dynamodb_wru * scale,
        dynamodb_reads: units_of(of(ops, "DynamoDB", Some(false)))
            * units.read_4kb as f64
            * p.dynamodb_rru
            * scale,
        secrets: units_of(of(ops, "SecretsManager", None)) * p.secrets_call * scale,
    }
}

/// DynamoDB's size of an item: attribute names plus values (numbers approximated as
/// their digits / 2 + 1 bytes, as AWS documents).
pub fn item_size(
    item: &std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
) -> usize {
    item.iter()
        .map(|(name, value)| name.len() + value_size(value))
        .sum()
}

fn value_size(value: &aws_sdk_dynamodb::types::AttributeValue) -> usize {
    use aws_sdk_dynamodb::types::AttributeValue as V;
    match value {
        V::S(s) => s.len(),
        V::N(n) => n.len().div_ceil(2) + 1,
        V::B(b) => b.as_ref().len(),
        V::Ss(set) => set.iter().map(String::len).sum(),
        V::Ns(set) => set.iter().map(|n| n.len().div_ceil(2) + 1).sum(),
        V::Bs(set) => set.iter().map(|b| b.as_ref().len()).sum(),
        V::L(list) => 3 + list.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
        V::M(map) => {
            3 + map
                .iter()
                .map(|(k, v)| 1 + k.len() + value_size(v))
                .sum::<usize>()
        }
        _ => 1,
    }
}
