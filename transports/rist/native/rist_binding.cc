// A thin N-API binding of librist (VideoLAN's RIST library, Debian's librist-dev 0.2.7): receiver
// and sender contexts, each with one peer from a `rist://` URL parsed by librist itself
// (rist_parse_address2: `rist://@:port` listens, `rist://host:port` calls; buffer, secret,
// aes-type, cname… in the query). librist calls back on its own threads; everything (packets,
// statistics, connection changes, log lines) goes to one JavaScript handler through a thread-safe
// function. RIST itself (ARQ, the profiles, encryption) is entirely librist's.
//
// The JavaScript side is transports/rist/librist.ts; nothing else loads this module.
#include <napi.h>
#include <librist/librist.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

struct Event {
  std::string type;  // "data", "stats", "status", "log"
  int ctx = 0;
  std::string payload;
  double tsNtpUs = 0;
  double arrivalUs = 0;
  int status = 0;
  std::string text;
  // receiver flow or sender peer statistics of one interval
  double received = 0, sent = 0, missing = 0, lost = 0, recovered = 0, retransmitted = 0, bandwidth = 0, rtt = 0, peers = 0;
};

struct Context {
  int id = 0;
  rist_ctx* ctx = nullptr;
  bool sender = false;
  rist_logging_settings* logging = nullptr;
};

Napi::ThreadSafeFunction tsfn;
bool started = false;
std::mutex mu;
std::unordered_map<int, Context*> contexts;
int nextId = 1;

double NowUs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

void CallJs(Napi::Env env, Napi::Function handler, Event* ev);

void Post(Event* ev) {
  if (!started || tsfn.NonBlockingCall(ev, CallJs) != napi_ok) delete ev;
}

int OnData(void* arg, rist_data_block* block) {
  auto* c = static_cast<Context*>(arg);
  auto* ev = new Event();
  ev->type = "data";
  ev->ctx = c->id;
  ev->payload.assign(static_cast<const char*>(block->payload), block->payload_len);
  // NTP 32.32 fixed point to µs
  ev->tsNtpUs = static_cast<double>(block->ts_ntp >> 32) * 1e6 + static_cast<double>(block->ts_ntp & 0xffffffffULL) * 1e6 / 4294967296.0;
  ev->arrivalUs = NowUs();
  rist_receiver_data_block_free2(&block);
  Post(ev);
  return 0;
}

int OnStats(void* arg, const rist_stats* s) {
  auto* c = static_cast<Context*>(arg);
  auto* ev = new Event();
  ev->type = "stats";
  ev->ctx = c->id;
  if (s->stats_type == RIST_STATS_RECEIVER_FLOW) {
    const auto& f = s->stats.receiver_flow;
    ev->received = f.received;
    ev->missing = f.missing;
    ev->lost = f.lost;
    ev->recovered = f.recovered;
    ev->bandwidth = f.bandwidth;
    ev->rtt = f.rtt;
    ev->peers = f.peer_count;
  } else {
    const auto& p = s->stats.sender_peer;
    ev->sent = p.sent;
    ev->received = p.received;
    ev->retransmitted = p.retransmitted;
    ev->bandwidth = p.bandwidth;
    ev->rtt = p.rtt;
  }
  rist_stats_free(s);
  Post(ev);
  return 0;
}

void OnStatus(void* arg, rist_peer*, rist_connection_status status) {
  auto* c = static_cast<Context*>(arg);
  auto* ev = new Event();
  ev->type = "status";
  ev->ctx = c->id;
  ev->status = status;
  Post(ev);
}

int OnLog(void* arg, rist_log_level level, const char* msg) {
  auto* ev = new Event();
  ev->type = "log";
  ev->ctx = static_cast<int>(reinterpret_cast<intptr_t>(arg));
  ev->status = level;
  ev->text = msg;
  while (!ev->text.empty() && (ev->text.back() == '\n' || ev->text.back() == '\r')) ev->text.pop_back();
  Post(ev);
  return 0;
}

void Deliver(Napi::Env env, Napi::Function handler, Event* ev) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("type", ev->type);
  o.Set("context", Napi::Number::New(env, ev->ctx));
  if (ev->type == "data") {
    o.Set("payload", Napi::Buffer<char>::Copy(env, ev->payload.data(), ev->payload.size()));
    o.Set("sendUs", Napi::Number::New(env, ev->tsNtpUs));
    o.Set("arrivalUs", Napi::Number::New(env, ev->arrivalUs));
  } else if (ev->type == "stats") {
    o.Set("received", ev->received);
    o.Set("sent", ev->sent);
    o.Set("missing", ev->missing);
    o.Set("lost", ev->lost);
    o.Set("recovered", ev->recovered);
    o.Set("retransmitted", ev->retransmitted);
    o.Set("bandwidth", ev->bandwidth);
    o.Set("rtt", ev->rtt);
    o.Set("peers", ev->peers);
  } else if (ev->type == "status") {
    o.Set("status", Napi::Number::New(env, ev->status));
  } else {
    o.Set("level", Napi::Number::New(env, ev->status));
    o.Set("text", ev->text);
  }
  handler.Call({o});
}

void CallJs(Napi::Env env, Napi::Function handler, Event* ev) {
  try {
    if (env != nullptr && handler != nullptr) Deliver(env, handler, ev);
  } catch (const Napi::Error& e) {
    if (env != nullptr) napi_throw(env, e.Value());
  } catch (...) {
  }
  delete ev;
}

void Destroy(Context* c) {
  if (c->ctx) rist_destroy(c->ctx);
  c->ctx = nullptr;
  if (c->logging) rist_logging_settings_free2(&c->logging);
}

void Cleanup(void*) {
  std::lock_guard<std::mutex> lock(mu);
  for (auto& [id, c] : contexts) {
    Destroy(c);
    delete c;
  }
  contexts.clear();
  if (started) tsfn.Release();
  started = false;
}

Napi::Value Start(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (started) throw Napi::Error::New(env, "librist already started");
  tsfn = Napi::ThreadSafeFunction::New(env, info[0].As<Napi::Function>(), "rist", 0, 1);
  tsfn.Unref(env);
  started = true;
  napi_add_env_cleanup_hook(env, Cleanup, nullptr);
  return env.Undefined();
}

// open(kind: "receiver" | "sender", url, profile 0 simple | 1 main | 2 advanced): a context id.
Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string kind = info[0].As<Napi::String>();
  std::string url = info[1].As<Napi::String>();
  auto profile = static_cast<rist_profile>(info[2].As<Napi::Number>().Int32Value());
  auto* c = new Context();
  c->sender = kind == "sender";
  {
    std::lock_guard<std::mutex> lock(mu);
    c->id = nextId++;
  }
  auto fail = [&](const std::string& what) {
    Destroy(c);
    delete c;
    throw Napi::Error::New(env, what);
  };
  if (rist_logging_set(&c->logging, RIST_LOG_WARN, OnLog, reinterpret_cast<void*>(static_cast<intptr_t>(c->id)), nullptr, nullptr) != 0) fail("rist_logging_set failed");
  int rc = c->sender ? rist_sender_create(&c->ctx, profile, 0, c->logging) : rist_receiver_create(&c->ctx, profile, c->logging);
  if (rc != 0) fail(std::string("cannot create the RIST ") + kind);
  rist_peer_config* config = nullptr;
  if (rist_parse_address2(url.c_str(), &config) != 0 || config == nullptr) fail("librist cannot parse the URL (rist://[@]host:port[?buffer=ms&secret=…])");
  rist_peer* peer = nullptr;
  rc = rist_peer_create(c->ctx, &peer, config);
  rist_peer_config_free2(&config);
  if (rc != 0) fail("cannot create the RIST peer (address in use, or unreachable)");
  if (!c->sender) rist_receiver_data_callback_set2(c->ctx, OnData, c);
  rist_stats_callback_set(c->ctx, 1000, OnStats, c);
  rist_connection_status_callback_set(c->ctx, OnStatus, c);
  if (rist_start(c->ctx) != 0) fail("rist_start failed");
  std::lock_guard<std::mutex> lock(mu);
  contexts[c->id] = c;
  return Napi::Number::New(env, c->id);
}

// write(id, bytes): 0 on success, -1 when the context is gone or librist refused.
Napi::Value Write(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int id = info[0].As<Napi::Number>().Int32Value();
  auto buf = info[1].As<Napi::Uint8Array>();
  Context* c;
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = contexts.find(id);
    if (it == contexts.end() || !it->second->sender) return Napi::Number::New(env, -1);
    c = it->second;
  }
  rist_data_block block{};
  block.payload = buf.Data();
  block.payload_len = buf.ByteLength();
  return Napi::Number::New(env, rist_sender_data_write(c->ctx, &block) < 0 ? -1 : 0);
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  int id = info[0].As<Napi::Number>().Int32Value();
  Context* c = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = contexts.find(id);
    if (it != contexts.end()) {
      c = it->second;
      contexts.erase(it);
    }
  }
  if (c) {
    Destroy(c);
    delete c;
  }
  return info.Env().Undefined();
}

Napi::Value Ref(const Napi::CallbackInfo& info) {
  if (info[0].ToBoolean()) tsfn.Ref(info.Env()); else tsfn.Unref(info.Env());
  return info.Env().Undefined();
}

Napi::Value Version(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), librist_version());
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("start", Napi::Function::New(env, Start));
  exports.Set("open", Napi::Function::New(env, Open));
  exports.Set("write", Napi::Function::New(env, Write));
  exports.Set("close", Napi::Function::New(env, Close));
  exports.Set("ref", Napi::Function::New(env, Ref));
  exports.Set("version", Napi::Function::New(env, Version));
  return exports;
}

}  // namespace

NODE_API_MODULE(veza_rist, Init)
