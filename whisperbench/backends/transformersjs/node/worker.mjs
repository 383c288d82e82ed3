// whisperbench's Transformers.js worker: one process per loaded model.
//
// Protocol: JSON lines. Requests on stdin, one response line per request on stdout
// (nothing else is ever written to stdout; the library's logging goes to stderr).
//   {"op":"load","model":ID,"root":DIR|null,"local":true,"dtype":"fp32"|"q8","threads":N,
//    "suppress_tokens":true|false}
//       -> {"op":"ready","load_ms":..,"versions":{..},"max_rss_kb":..,
//           "word_timestamps":null|WHY_NOT,"language_detection":true|false}
//   {"id":N,"op":"transcribe","audio_path":F,"offset":S,"length":S,"options":{..}}
//       audio: raw little-endian float32 16 kHz mono samples in file F (samples
//       [offset, offset+length)), or "audio_b64" with the same bytes base64-encoded.
//       options.return_timestamps: true | false | "word" (then each chunk is one word)
//       options.detect_language: true (a multilingual model, no language given): the
//       language of the first 30 s is detected, then decoded in
//       -> {"id":N,"ok":true,"text":..,"chunks":[{"timestamp":[s,e|null],"text":..,"tokens":[..]}],
//           "language":..,"language_probability":..,"infer_ms":..,"max_rss_kb":..}
//   {"id":N,"op":"ping"} -> {"id":N,"ok":true}
//   {"id":N,"op":"crash","code":C} exits at once (tests); {"id":N,"op":"hang"} never answers (tests)
// Any failure of a request -> {"id":N,"ok":false,"error":MESSAGE}.

import fs from 'node:fs';
import readline from 'node:readline';

// Keep stdout for the protocol only.
console.log = (...args) => console.error(...args);
console.info = (...args) => console.error(...args);
const send = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

let transformers = null;
let asr = null;
let suppressProcessor = null;

// Transformers.js v3 does not apply generation_config.suppress_tokens (the processor is
// commented out in its models.js), so e.g. <|nocaptions|> can end a window at once.
// Every other Whisper runtime applies them; the worker adds it unless told not to.
function makeSuppressProcessor(ids) {
  const tokens = Array.from(new Set(ids.map(Number)));
  return (input_ids, logits) => {
    for (let i = 0; i < input_ids.length; ++i) {
      const data = logits[i].data;
      for (const t of tokens) if (t < data.length) data[t] = -Infinity;
    }
    return logits;
  };
}

function versions() {
  const v = { node: process.versions.node };
  for (const pkg of ['@huggingface/transformers', 'onnxruntime-node']) {
    try {
      const url = new URL(`./node_modules/${pkg}/package.json`, import.meta.url);
      v[pkg] = JSON.parse(fs.readFileSync(url, 'utf8')).version;
    } catch {
      v[pkg] = 'unknown';
    }
  }
  return v;
}

async function load(req) {
  const t0 = performance.now();
  transformers = await import('@huggingface/transformers');
  const { env, pipeline } = transformers;
  env.allowLocalModels = true;
  env.allowRemoteModels = !req.local;
  if (req.root) env.localModelPath = req.root;
  if (req.cache_dir) env.cacheDir = req.cache_dir;
  const dtype = req.dtype || 'fp32';
  const options = {
    device: 'cpu',
    dtype: { encoder_model: dtype, decoder_model_merged: dtype },
  };
  if (req.threads > 0) {
    options.session_options = { intraOpNumThreads: req.threads, interOpNumThreads: 1 };
  }
  asr = await pipeline('automatic-speech-recognition', req.model, options);
  const suppress = asr.model.generation_config?.suppress_tokens ?? asr.model.config?.suppress_tokens ?? [];
  suppressProcessor = req.suppress_tokens !== false && suppress.length ? makeSuppressProcessor(suppress) : null;
  return { op: 'ready', suppress_tokens: suppressProcessor !== null, load_ms: performance.now() - t0, versions: versions(),
    word_timestamps: wordTimestampsMissing(), language_detection: !!asr.model.generation_config?.is_multilingual,
    max_rss_kb: process.resourceUsage().maxRSS };
}

// Why return_timestamps: 'word' cannot work with this model (null when it can): the pipeline
// times words from the decoder's cross-attention outputs over generation_config.alignment_heads.
function wordTimestampsMissing() {
  const session = asr.model.sessions?.decoder_model_merged;
  if (!(session?.outputNames ?? []).some((n) => n.startsWith('cross_attentions'))) {
    return 'its decoder graph outputs no cross-attentions (export it with output_attentions, '
      + 'as whisperbench\'s ONNX export recipe 2 does)';
  }
  if (!asr.model.generation_config?.alignment_heads?.length) {
    return 'its generation_config.json has no alignment_heads';
  }
  return null;
}

// Transformers.js 3.8 has no language detection (its Whisper generate decodes a multilingual
// model in English when given no language). Detected as openai-whisper and transformers do:
// one decoder step after <|startoftranscript|> on the first 30 s through the loaded model,
// softmax over the language tokens.
async function detectLanguage(audio) {
  const { Tensor } = transformers;
  const gen = asr.model.generation_config;
  const sr = asr.processor.feature_extractor.config.sampling_rate;
  const { input_features } = await asr.processor(audio.subarray(0, 30 * sr));
  const start = new Tensor('int64', BigInt64Array.from([BigInt(gen.decoder_start_token_id)]), [1, 1]);
  const { logits } = await asr.model({ input_features, decoder_input_ids: start });
  const last = logits.data.subarray(logits.data.length - logits.dims.at(-1));
  const langs = Object.entries(gen.lang_to_id);
  const scores = langs.map(([, id]) => last[id]);
  const top = Math.max(...scores);
  const exps = scores.map((x) => Math.exp(x - top));
  const total = exps.reduce((a, b) => a + b, 0);
  const best = scores.indexOf(top);
  return { language: langs[best][0].replace(/^<\|/, '').replace(/\|>$/, ''), probability: exps[best] / total };
}

function readAudio(req) {
  let buf;
  if (req.audio_b64 !== undefined) {
    buf = Buffer.from(req.audio_b64, 'base64');
  } else {
    const fd = fs.openSync(req.audio_path, 'r');
    try {
      const length = req.length ?? (fs.fstatSync(fd).size / 4 - (req.offset ?? 0));
      buf = Buffer.alloc(length * 4);
      fs.readSync(fd, buf, 0, length * 4, (req.offset ?? 0) * 4);
    } finally {
      fs.closeSync(fd);
    }
  }
  // Copy into an aligned Float32Array (a Buffer's byteOffset need not be a multiple of 4).
  const out = new Float32Array(buf.length / 4);
  new Uint8Array(out.buffer).set(buf);
  return out;
}

async function transcribe(req) {
  const audio = readAudio(req);
  const o = req.options || {};
  // "word": the pipeline's word-level timestamps (cross-attention DTW over the model's
  // alignment_heads); its chunks are then words.
  const kwargs = { return_timestamps: o.return_timestamps === 'word' ? 'word' : !!o.return_timestamps };
  if (o.chunk_length_s) {
    kwargs.chunk_length_s = o.chunk_length_s;
    if (o.stride_length_s !== undefined && o.stride_length_s !== null) kwargs.stride_length_s = o.stride_length_s;
  }
  if (o.language) kwargs.language = o.language;
  if (o.task) kwargs.task = o.task;
  if (o.max_new_tokens) kwargs.max_new_tokens = o.max_new_tokens;
  if (suppressProcessor) kwargs.logits_processor = [suppressProcessor];
  const t0 = performance.now();
  let detected = null;
  if (o.detect_language && !o.language) {
    detected = await detectLanguage(audio);
    kwargs.language = detected.language;
  }
  const out = await asr(audio, kwargs);
  const infer_ms = performance.now() - t0;
  const chunks = (out.chunks && out.chunks.length ? out.chunks : [{ timestamp: [0, null], text: out.text }]).map(
    (c) => ({
      timestamp: c.timestamp,
      text: c.text,
      // The pipeline returns text only; its token count is re-derived by tokenizing the text.
      tokens: asr.tokenizer.encode(c.text, { add_special_tokens: false }),
    }),
  );
  return { ok: true, text: out.text, chunks, has_chunks: !!(out.chunks && out.chunks.length), infer_ms,
    language: detected?.language ?? kwargs.language ?? null, language_probability: detected?.probability ?? null,
    max_rss_kb: process.resourceUsage().maxRSS };
}

async function handle(req) {
  switch (req.op) {
    case 'load':
      return load(req);
    case 'transcribe':
      if (!asr) throw new Error('no model loaded (send op "load" first)');
      return transcribe(req);
    case 'ping':
      return { ok: true, max_rss_kb: process.resourceUsage().maxRSS };
    case 'crash':
      process.exit(req.code ?? 70);
      break;
    case 'hang':
      return new Promise(() => setInterval(() => {}, 1 << 30));
    default:
      throw new Error(`unknown op ${JSON.stringify(req.op)}`);
  }
}

// Requests are served one at a time, in order.
let chain = Promise.resolve();
const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on('line', (line) => {
  if (!line.trim()) return;
  chain = chain.then(async () => {
    let req;
    try {
      req = JSON.parse(line);
    } catch (e) {
      send({ ok: false, error: `bad request line: ${e.message}` });
      return;
    }
    try {
      const res = await handle(req);
      send({ id: req.id, ...res });
    } catch (e) {
      send({ id: req.id, ok: false, op: req.op, error: (e && (e.stack || e.message)) || String(e) });
    }
  });
});
rl.on('close', () => chain.then(() => process.exit(0)));
