//! Config rendering at ISP scale: one PBX with 10,000 extensions, 1,000
//! gateways, 200 trunk customers, 500 routes and 100,000 DIDs.
//!
//! * `render/full_pbx`: lint + the five files + the structural re-read, i.e.
//!   everything `render::render` does (target: under 1 s);
//! * `lint/full_pbx`: the input lint alone, to see its share;
//! * `diff/one_extension_caller_id`: `render::diff` between the render above
//!   and the same PBX after one extension's caller ID changed, the
//!   incremental-apply path (one file, one reload).
//!
//! Before criterion's figures it prints the sizes of the files and a plain
//! median of a few renders against the 1 s target.
//!
//! `cargo bench -p ringside-provisioning --bench render` (about a minute).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ringside_provisioning::render::{
    self, CustomerTrunk, Did, DidDestination, Extension, Gateway, PbxInfo, Registration,
    RenderInput, Route, Transport,
};

const EXTENSIONS: usize = 10_000;
const GATEWAYS: usize = 1_000;
const TRUNKS: usize = 200;
const DIDS: usize = 100_000;
const EXT_CUSTOMERS: usize = 100;

fn codecs(list: &[&str]) -> Vec<String> {
    list.iter().map(|c| (*c).to_owned()).collect()
}

fn big_pbx() -> RenderInput {
    let gateways = (0..GATEWAYS)
        .map(|i| Gateway {
            name: format!("Carrier {i:04} {}", ["London", "Paris", "Frankfurt"][i % 3]),
            provider: format!("Provider {}", i / 10),
            host: format!("172.{}.{}.{}", 16 + i / 65_536, (i / 256) % 256, i % 256),
            port: 5060,
            transport: [Transport::Udp, Transport::Tcp, Transport::Tls][i % 3],
            codecs: codecs(&["alaw", "ulaw", "g729"]),
            tech_prefix: if i % 4 == 0 {
                format!("{}", 1000 + i)
            } else {
                String::new()
            },
            registration: (i % 5 == 0).then(|| Registration {
                username: format!("acct{i}"),
                secret: format!("Gw{i}-x8Qz!pL2"),
            }),
        })
        .collect::<Vec<_>>();
    let customer_trunks = (0..TRUNKS)
        .map(|i| CustomerTrunk {
            code: format!("T{i:04}"),
            name: format!("Trunk customer {i}"),
            trunk_ip: format!("10.{}.{}.{}", i / 65_536, (i / 256) % 256, i % 256),
            channel_limit: (i % 3 != 0).then_some(30 + i as u32),
            codecs: codecs(&["alaw", "g729"]),
        })
        .collect::<Vec<_>>();
    let extensions = (0..EXTENSIONS)
        .map(|i| Extension {
            number: format!("{}", 100_000 + i),
            secret: format!("Ex{i}-q8Lw2Zr9"),
            caller_id_name: format!("User \"{i}\" of C{:03}", i % EXT_CUSTOMERS),
            caller_id_number: format!("+4420{:07}", i),
            codecs: codecs(&["g722", "alaw", "ulaw"]),
            max_contacts: 1 + (i % 3) as u32,
            customer_code: format!("C{:03}", i % EXT_CUSTOMERS),
        })
        .collect::<Vec<_>>();
    let routes = (0..500)
        .map(|i| Route {
            name: format!(
                "Destination {} ({})",
                i / 2,
                if i % 2 == 0 { "main" } else { "backup" }
            ),
            pattern: format!("_00{}X.", 100 + i / 2),
            gateway: gateways[(i * 7) % GATEWAYS].name.clone(),
            priority: 10 + (i % 2) as u32 * 10,
            tech_prefix: String::new(),
            strip_digits: 2,
        })
        .collect();
    let dids = (0..DIDS)
        .map(|i| {
            let number = format!("+4413{:08}", i);
            match i % 5 {
                0 | 1 => {
                    let ext = &extensions[i % EXTENSIONS];
                    Did {
                        number,
                        customer_code: Some(ext.customer_code.clone()),
                        destination: DidDestination::Extension(ext.number.clone()),
                    }
                }
                2 | 3 => {
                    let code = customer_trunks[i % TRUNKS].code.clone();
                    Did {
                        number,
                        customer_code: Some(code.clone()),
                        destination: DidDestination::CustomerTrunk(code),
                    }
                }
                _ => Did {
                    number,
                    customer_code: None,
                    destination: DidDestination::Unallocated,
                },
            }
        })
        .collect();
    RenderInput {
        pbx: PbxInfo {
            id: "3f1c2a9e-6b1d-4c1e-9a57-2f6d8e0b7c41".into(),
            name: "bench-pbx".into(),
        },
        gateways,
        customer_trunks,
        extensions,
        routes,
        dids,
    }
}

fn print_summary(input: &RenderInput) {
    let rendered = render::render(input).expect("the bench PBX renders");
    eprintln!(
        "render bench input: {} extensions, {} gateways, {} trunks, {} routes, {} DIDs",
        input.extensions.len(),
        input.gateways.len(),
        input.customer_trunks.len(),
        input.routes.len(),
        input.dids.len()
    );
    let mut total = 0;
    for (name, text) in rendered.files() {
        total += text.len();
        eprintln!(
            "  {name:<28} {:>10} bytes {:>9} lines",
            text.len(),
            text.lines().count()
        );
    }
    eprintln!("  {:<28} {total:>10} bytes", "total");
    let mut times: Vec<Duration> = (0..5)
        .map(|_| {
            let start = Instant::now();
            black_box(render::render(black_box(input)).unwrap());
            start.elapsed()
        })
        .collect();
    times.sort();
    let median = times[times.len() / 2];
    eprintln!(
        "render, median of 5: {:.1} ms (target < 1000 ms: {})",
        median.as_secs_f64() * 1e3,
        if median < Duration::from_secs(1) {
            "met"
        } else {
            "MISSED"
        }
    );
}

fn benches(c: &mut Criterion) {
    let input = big_pbx();
    print_summary(&input);
    let objects = (EXTENSIONS + GATEWAYS + TRUNKS + DIDS + 500) as u64;

    let mut group = c.benchmark_group("render");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(15));
    group.throughput(Throughput::Elements(objects));
    group.bench_function("full_pbx", |b| {
        b.iter(|| render::render(black_box(&input)).unwrap())
    });
    group.finish();

    let mut group = c.benchmark_group("lint");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(objects));
    group.bench_function("full_pbx", |b| b.iter(|| render::lint(black_box(&input))));
    group.finish();

    let old = render::render(&input).unwrap();
    let mut changed = input.clone();
    changed.extensions[4_321].caller_id_name = "Renamed User".into();
    let new = render::render(&changed).unwrap();
    let d = render::diff(&old, &new);
    eprintln!(
        "one caller-ID change: files {:?}, reloads {:?}, unified diff {} bytes",
        d.changed_files().collect::<Vec<_>>(),
        d.reload_commands(),
        d.files.iter().map(|f| f.unified.len()).sum::<usize>()
    );
    assert_eq!(
        d.changed_files().collect::<Vec<_>>(),
        ["pjsip_extensions.conf"]
    );

    let mut group = c.benchmark_group("diff");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    group.bench_function("one_extension_caller_id", |b| {
        b.iter(|| render::diff(black_box(&old), black_box(&new)));
    });
    group.finish();
}

criterion_group!(render_benches, benches);
criterion_main!(render_benches);
