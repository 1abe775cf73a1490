// A thin N-API binding of Haivision's libsrt (Debian's libsrt-openssl-dev, SRT 1.5): sockets in
// live mode (SRTT_LIVE: one message per packet, at most 1316 bytes of MPEG-TS), made non-blocking
// and watched by one poller thread on an SRT epoll. Everything the poller sees (an accepted
// caller, a connection made or refused, packets, a broken socket) goes to one JavaScript handler
// through a thread-safe function, packets in batches. Sends and option setting happen on the
// JavaScript thread (libsrt's calls are thread-safe). Protocol logic stays in libsrt: this file
// only moves bytes and reads statistics (srt_bstats).
//
// The JavaScript side is transports/srt/libsrt.ts; nothing else loads this module.
#include <napi.h>
#include <srt/access_control.h>
#include <srt/srt.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <syslog.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace {

enum class Kind { Listener, Connecting, Data };

struct Event {
  std::string type;  // "accept", "connected", "data", "closed"
  SRTSOCKET sock = SRT_INVALID_SOCK;
  SRTSOCKET listener = SRT_INVALID_SOCK;
  std::string streamId;
  std::string peer;
  std::string reason;
  int rejectReason = 0;
  std::vector<std::string> packets;
  std::vector<int64_t> srcTimes;     // sender's timestamps of the packets, µs (SRT_MSGCTRL.srctime)
  std::vector<int64_t> arrivalTimes; // when the poller read them, µs (srt_time_now)
};

struct State {
  int eid = -1;
  std::thread poller;
  std::atomic<bool> running{false};
  std::mutex mu;
  std::unordered_map<SRTSOCKET, Kind> kinds;
  Napi::ThreadSafeFunction tsfn;
  bool started = false;
};

State* g = nullptr;

std::string LastError() { return std::string(srt_getlasterror_str()); }

std::string AddrString(const sockaddr_storage& ss) {
  char host[INET6_ADDRSTRLEN] = {0};
  int port = 0;
  if (ss.ss_family == AF_INET) {
    auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
    port = ntohs(a->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
    port = ntohs(a->sin6_port);
    return "[" + std::string(host) + "]:" + std::to_string(port);
  }
  return std::string(host) + ":" + std::to_string(port);
}

void CallJs(Napi::Env env, Napi::Function handler, Event* ev);
void Deliver(Napi::Env env, Napi::Function handler, Event* ev);

void Post(Event* ev) {
  if (g->tsfn.NonBlockingCall(ev, CallJs) != napi_ok) delete ev;
}

void Forget(SRTSOCKET s) {
  std::lock_guard<std::mutex> lock(g->mu);
  g->kinds.erase(s);
  srt_epoll_remove_usock(g->eid, s);
}

void OnListener(SRTSOCKET ls) {
  for (;;) {
    sockaddr_storage ss{};
    int len = sizeof ss;
    SRTSOCKET s = srt_accept(ls, reinterpret_cast<sockaddr*>(&ss), &len);
    if (s == SRT_INVALID_SOCK) return;  // SRT_EASYNCRCV: no more callers waiting
    char sid[513] = {0};
    int sidLen = sizeof sid - 1;
    if (srt_getsockflag(s, SRTO_STREAMID, sid, &sidLen) != 0) sidLen = 0;
    bool no = false;
    srt_setsockflag(s, SRTO_RCVSYN, &no, sizeof no);
    srt_setsockflag(s, SRTO_SNDSYN, &no, sizeof no);
    {
      std::lock_guard<std::mutex> lock(g->mu);
      g->kinds[s] = Kind::Data;
      int events = SRT_EPOLL_IN | SRT_EPOLL_ERR;
      srt_epoll_add_usock(g->eid, s, &events);
    }
    auto* ev = new Event();
    ev->type = "accept";
    ev->sock = s;
    ev->listener = ls;
    ev->streamId.assign(sid, sidLen);
    ev->peer = AddrString(ss);
    Post(ev);
  }
}

void OnConnecting(SRTSOCKET s, int events) {
  SRT_SOCKSTATUS st = srt_getsockstate(s);
  if (st == SRTS_CONNECTED) {
    {
      std::lock_guard<std::mutex> lock(g->mu);
      g->kinds[s] = Kind::Data;
      int evs = SRT_EPOLL_IN | SRT_EPOLL_ERR;
      srt_epoll_update_usock(g->eid, s, &evs);
    }
    sockaddr_storage ss{};
    int len = sizeof ss;
    auto* ev = new Event();
    ev->type = "connected";
    ev->sock = s;
    if (srt_getpeername(s, reinterpret_cast<sockaddr*>(&ss), &len) == 0 && (ss.ss_family == AF_INET || ss.ss_family == AF_INET6)) ev->peer = AddrString(ss);
    Post(ev);
    return;
  }
  if ((events & SRT_EPOLL_ERR) || st == SRTS_BROKEN || st == SRTS_CLOSED || st == SRTS_NONEXIST) {
    Forget(s);
    auto* ev = new Event();
    ev->type = "closed";
    ev->sock = s;
    ev->rejectReason = srt_getrejectreason(s);
    ev->reason = srt_rejectreason_str(ev->rejectReason);
    Post(ev);
  }
}

void OnData(SRTSOCKET s, int events) {
  auto* ev = new Event();
  ev->type = "data";
  ev->sock = s;
  char buf[1500];
  for (int i = 0; i < 256; i++) {
    SRT_MSGCTRL mc = srt_msgctrl_default;
    int n = srt_recvmsg2(s, buf, sizeof buf, &mc);
    if (n <= 0) break;
    ev->packets.emplace_back(buf, n);
    ev->srcTimes.push_back(mc.srctime);
    ev->arrivalTimes.push_back(srt_time_now());
  }
  if (!ev->packets.empty()) Post(ev); else delete ev;
  SRT_SOCKSTATUS st = srt_getsockstate(s);
  if ((events & SRT_EPOLL_ERR) || st == SRTS_BROKEN || st == SRTS_CLOSED || st == SRTS_NONEXIST) {
    Forget(s);
    auto* closed = new Event();
    closed->type = "closed";
    closed->sock = s;
    closed->reason = st == SRTS_BROKEN ? "connection broken" : "closed";
    Post(closed);
  }
}

void PollLoop() {
  SRT_EPOLL_EVENT evs[64];
  while (g->running.load()) {
    int n = srt_epoll_uwait(g->eid, evs, 64, 100);
    for (int i = 0; i < n; i++) {
      Kind kind;
      {
        std::lock_guard<std::mutex> lock(g->mu);
        auto it = g->kinds.find(evs[i].fd);
        if (it == g->kinds.end()) continue;
        kind = it->second;
      }
      if (kind == Kind::Listener) {
        if (evs[i].events & SRT_EPOLL_IN) OnListener(evs[i].fd);
      } else if (kind == Kind::Connecting) {
        OnConnecting(evs[i].fd, evs[i].events);
      } else {
        OnData(evs[i].fd, evs[i].events);
      }
    }
  }
}

void CallJs(Napi::Env env, Napi::Function handler, Event* ev) {
  // a JavaScript exception in the handler stays a JavaScript exception (uncaught: the process's
  // handlers see it); none may leave here as a C++ exception, which would abort the process
  try {
    Deliver(env, handler, ev);
  } catch (const Napi::Error& e) {
    if (env != nullptr) napi_throw(env, e.Value());
  } catch (...) {
  }
  delete ev;
}

void Deliver(Napi::Env env, Napi::Function handler, Event* ev) {
  if (env != nullptr && handler != nullptr) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("type", ev->type);
    o.Set("socket", Napi::Number::New(env, ev->sock));
    if (ev->type == "accept") {
      o.Set("listener", Napi::Number::New(env, ev->listener));
      o.Set("streamId", ev->streamId);
    }
    if (!ev->peer.empty()) o.Set("peer", ev->peer);
    if (ev->type == "closed") {
      o.Set("reason", ev->reason);
      o.Set("rejectReason", Napi::Number::New(env, ev->rejectReason));
    }
    if (ev->type == "data") {
      Napi::Array packets = Napi::Array::New(env, ev->packets.size());
      Napi::Float64Array src = Napi::Float64Array::New(env, ev->packets.size());
      Napi::Float64Array arr = Napi::Float64Array::New(env, ev->packets.size());
      for (size_t i = 0; i < ev->packets.size(); i++) {
        packets.Set(i, Napi::Buffer<char>::Copy(env, ev->packets[i].data(), ev->packets[i].size()));
        src[i] = static_cast<double>(ev->srcTimes[i]);
        arr[i] = static_cast<double>(ev->arrivalTimes[i]);
      }
      o.Set("packets", packets);
      o.Set("srcTimes", src);
      o.Set("arrivalTimes", arr);
    }
    handler.Call({o});
  }
}

void Cleanup(void*) {
  if (g == nullptr || !g->started) return;
  g->running.store(false);
  if (g->poller.joinable()) g->poller.join();
  g->tsfn.Release();
  srt_epoll_release(g->eid);
  srt_cleanup();
}

// start(handler): starts libsrt and the poller; handler receives every event.
Napi::Value Start(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (g->started) throw Napi::Error::New(env, "libsrt already started");
  if (!info[0].IsFunction()) throw Napi::TypeError::New(env, "start(handler: function)");
  if (srt_startup() < 0) throw Napi::Error::New(env, "srt_startup: " + LastError());
  // libsrt logs to stderr by itself; its expected conditions (no caller pending on a non-blocking
  // accept) are logged as errors there. Callers learn of failures through events and stats instead.
  srt_setloglevel(LOG_CRIT);
  g->eid = srt_epoll_create();
  srt_epoll_set(g->eid, SRT_EPOLL_ENABLE_EMPTY);
  g->tsfn = Napi::ThreadSafeFunction::New(env, info[0].As<Napi::Function>(), "srt-poller", 0, 1);
  g->tsfn.Unref(env);
  g->running.store(true);
  g->started = true;
  g->poller = std::thread(PollLoop);
  napi_add_env_cleanup_hook(env, Cleanup, nullptr);
  return env.Undefined();
}

bool Resolve(Napi::Env env, const std::string& host, int port, sockaddr_storage* ss, int* len) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  hints.ai_flags = host.empty() ? AI_PASSIVE : 0;
  addrinfo* res = nullptr;
  std::string p = std::to_string(port);
  int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(), p.c_str(), &hints, &res);
  if (rc != 0 || res == nullptr) {
    Napi::Error::New(env, "cannot resolve " + host + ": " + gai_strerror(rc)).ThrowAsJavaScriptException();
    return false;
  }
  std::memcpy(ss, res->ai_addr, res->ai_addrlen);
  *len = static_cast<int>(res->ai_addrlen);
  freeaddrinfo(res);
  return true;
}

// Options: { latencyMs?, passphrase?, pbKeyLen?, streamId?, rendezvous?, payloadSize?, tsbpd?, connectTimeoutMs? }
bool ApplyOptions(Napi::Env env, SRTSOCKET s, const Napi::Object& o) {
  bool no = false;
  srt_setsockflag(s, SRTO_RCVSYN, &no, sizeof no);
  srt_setsockflag(s, SRTO_SNDSYN, &no, sizeof no);
  SRT_TRANSTYPE tt = SRTT_LIVE;
  srt_setsockflag(s, SRTO_TRANSTYPE, &tt, sizeof tt);
  auto fail = [&](const char* what) {
    Napi::Error::New(env, std::string(what) + ": " + LastError()).ThrowAsJavaScriptException();
    return false;
  };
  // one option each: its JavaScript key, libsrt's flag, and the name its error gives
  auto setInt = [&](const char* key, SRT_SOCKOPT opt, const char* what) {
    if (!o.Has(key) || !o.Get(key).IsNumber()) return true;
    int v = o.Get(key).As<Napi::Number>().Int32Value();
    return srt_setsockflag(s, opt, &v, sizeof v) == 0 || fail(what);
  };
  auto setBool = [&](const char* key, SRT_SOCKOPT opt, const char* what) {
    if (!o.Has(key) || !o.Get(key).IsBoolean()) return true;
    bool v = o.Get(key).As<Napi::Boolean>().Value();
    return srt_setsockflag(s, opt, &v, sizeof v) == 0 || fail(what);
  };
  auto setString = [&](const char* key, SRT_SOCKOPT opt, const char* what) {
    if (!o.Has(key) || !o.Get(key).IsString()) return true;
    std::string v = o.Get(key).As<Napi::String>();
    return srt_setsockflag(s, opt, v.data(), static_cast<int>(v.size())) == 0 || fail(what);
  };
  return setInt("latencyMs", SRTO_LATENCY, "latency") && setInt("pbKeyLen", SRTO_PBKEYLEN, "pbkeylen") &&
         setString("passphrase", SRTO_PASSPHRASE, "passphrase (10 to 79 characters)") &&
         setString("streamId", SRTO_STREAMID, "streamid (at most 512 bytes)") && setBool("rendezvous", SRTO_RENDEZVOUS, "rendezvous") &&
         setBool("tsbpd", SRTO_TSBPDMODE, "tsbpdmode") && setInt("connectTimeoutMs", SRTO_CONNTIMEO, "conntimeo") &&
         setInt("payloadSize", SRTO_PAYLOADSIZE, "payloadsize");
}

void Watch(SRTSOCKET s, Kind kind, int events) {
  std::lock_guard<std::mutex> lock(g->mu);
  g->kinds[s] = kind;
  srt_epoll_add_usock(g->eid, s, &events);
}

// A socket with the options of info[2], and the address info[0]:info[1] resolved into ss/len;
// SRT_INVALID_SOCK with a JavaScript exception pending when either fails.
SRTSOCKET NewSocket(const Napi::CallbackInfo& info, sockaddr_storage* ss, int* len) {
  Napi::Env env = info.Env();
  std::string host = info[0].As<Napi::String>();
  if (!Resolve(env, host, info[1].As<Napi::Number>().Int32Value(), ss, len)) return SRT_INVALID_SOCK;
  SRTSOCKET s = srt_create_socket();
  if (s == SRT_INVALID_SOCK) {
    Napi::Error::New(env, "srt_create_socket: " + LastError()).ThrowAsJavaScriptException();
    return SRT_INVALID_SOCK;
  }
  if (!ApplyOptions(env, s, info[2].As<Napi::Object>())) {
    srt_close(s);
    return SRT_INVALID_SOCK;
  }
  return s;
}

// The handshake hook of a listener given streamIdPrefixes: a caller whose streamid starts with none
// of them is refused in the handshake (SRT_REJX_BAD_REQUEST, 1400, SRT's access-control code for a
// malformed streamid), so it learns why; anything subtler (a token) is judged in JavaScript after
// the accept. Runs on libsrt's receive thread: a few string compares, no waiting.
int CheckStreamId(void* opaque, SRTSOCKET ns, int, const sockaddr*, const char* streamid) {
  const auto* prefixes = static_cast<const std::vector<std::string>*>(opaque);
  const std::string sid = streamid ? streamid : "";
  for (const auto& p : *prefixes) if (sid.compare(0, p.size(), p) == 0) return 0;
  srt_setrejectreason(ns, SRT_REJX_BAD_REQUEST);
  return -1;
}

// listen(host, port, options, backlog): a listening socket's id; accepted callers inherit its options.
// options.streamIdPrefixes: see CheckStreamId.
Napi::Value Listen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string host = info[0].As<Napi::String>();
  int port = info[1].As<Napi::Number>().Int32Value();
  sockaddr_storage ss{};
  int len = 0;
  SRTSOCKET s = NewSocket(info, &ss, &len);
  if (s == SRT_INVALID_SOCK) return env.Undefined();
  Napi::Object opts = info[2].As<Napi::Object>();
  if (opts.Has("streamIdPrefixes") && opts.Get("streamIdPrefixes").IsArray()) {
    auto arr = opts.Get("streamIdPrefixes").As<Napi::Array>();
    // lives as long as the process: one small vector per listening socket
    auto* prefixes = new std::vector<std::string>();
    for (uint32_t i = 0; i < arr.Length(); i++) prefixes->push_back(arr.Get(i).As<Napi::String>());
    srt_listen_callback(s, CheckStreamId, prefixes);
  }
  int backlog = info.Length() > 3 && info[3].IsNumber() ? info[3].As<Napi::Number>().Int32Value() : 16;
  if (srt_bind(s, reinterpret_cast<sockaddr*>(&ss), len) != 0 || srt_listen(s, backlog) != 0) {
    std::string err = LastError();
    srt_close(s);
    throw Napi::Error::New(env, "listen on " + host + ":" + std::to_string(port) + ": " + err);
  }
  Watch(s, Kind::Listener, SRT_EPOLL_IN | SRT_EPOLL_ERR);
  return Napi::Number::New(env, s);
}

// connect(host, port, options, localPort?): a socket id at once; "connected" or "closed" follows.
Napi::Value Connect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string host = info[0].As<Napi::String>();
  int port = info[1].As<Napi::Number>().Int32Value();
  sockaddr_storage ss{};
  int len = 0;
  SRTSOCKET s = NewSocket(info, &ss, &len);
  if (s == SRT_INVALID_SOCK) return env.Undefined();
  if (info.Length() > 3 && info[3].IsNumber()) {
    // rendezvous: both sides bind the port they connect to
    sockaddr_storage local{};
    int llen = 0;
    if (!Resolve(env, ss.ss_family == AF_INET6 ? "::" : "0.0.0.0", info[3].As<Napi::Number>().Int32Value(), &local, &llen)) {
      srt_close(s);
      return env.Undefined();
    }
    if (srt_bind(s, reinterpret_cast<sockaddr*>(&local), llen) != 0) {
      std::string err = LastError();
      srt_close(s);
      throw Napi::Error::New(env, "bind: " + err);
    }
  }
  Watch(s, Kind::Connecting, SRT_EPOLL_OUT | SRT_EPOLL_ERR);
  if (srt_connect(s, reinterpret_cast<sockaddr*>(&ss), len) == SRT_ERROR) {
    std::string err = LastError();
    Forget(s);
    srt_close(s);
    throw Napi::Error::New(env, "connect to " + host + ":" + std::to_string(port) + ": " + err);
  }
  return Napi::Number::New(env, s);
}

// send(socket, bytes, srcTime?): bytes sent, 0 when the send buffer is full (live mode drops), -1
// when the socket is gone. srcTime (µs, srt_time_now's clock) stamps the packet with the time it
// was first sent (a relay passes on its input's), else now.
Napi::Value Send(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SRTSOCKET s = info[0].As<Napi::Number>().Int32Value();
  auto buf = info[1].As<Napi::Uint8Array>();
  SRT_MSGCTRL mc = srt_msgctrl_default;
  if (info.Length() > 2 && info[2].IsNumber()) mc.srctime = static_cast<int64_t>(info[2].As<Napi::Number>().DoubleValue());
  int n = srt_sendmsg2(s, reinterpret_cast<const char*>(buf.Data()), static_cast<int>(buf.ByteLength()), &mc);
  if (n == SRT_ERROR) {
    int code = srt_getlasterror(nullptr);
    return Napi::Number::New(env, code == SRT_EASYNCSND ? 0 : -1);
  }
  return Napi::Number::New(env, n);
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  SRTSOCKET s = info[0].As<Napi::Number>().Int32Value();
  Forget(s);
  srt_close(s);
  return info.Env().Undefined();
}

// stats(socket, clear): srt_bstats' counters (totals since connect) and the instant rates.
Napi::Value Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SRTSOCKET s = info[0].As<Napi::Number>().Int32Value();
  SRT_TRACEBSTATS t{};
  if (srt_bstats(s, &t, info.Length() > 1 && info[1].ToBoolean() ? 1 : 0) != 0) return env.Null();
  Napi::Object o = Napi::Object::New(env);
  o.Set("msTimeStamp", Napi::Number::New(env, static_cast<double>(t.msTimeStamp)));
  o.Set("pktSentTotal", Napi::Number::New(env, static_cast<double>(t.pktSentTotal)));
  o.Set("pktRecvTotal", Napi::Number::New(env, static_cast<double>(t.pktRecvTotal)));
  o.Set("pktSndLossTotal", Napi::Number::New(env, t.pktSndLossTotal));
  o.Set("pktRcvLossTotal", Napi::Number::New(env, t.pktRcvLossTotal));
  o.Set("pktRetransTotal", Napi::Number::New(env, t.pktRetransTotal));
  o.Set("pktRcvUndecryptTotal", Napi::Number::New(env, t.pktRcvUndecryptTotal));
  o.Set("pktSndDropTotal", Napi::Number::New(env, t.pktSndDropTotal));
  o.Set("pktRcvDropTotal", Napi::Number::New(env, t.pktRcvDropTotal));
  o.Set("byteSentTotal", Napi::Number::New(env, static_cast<double>(t.byteSentTotal)));
  o.Set("byteRecvTotal", Napi::Number::New(env, static_cast<double>(t.byteRecvTotal)));
  o.Set("mbpsSendRate", Napi::Number::New(env, t.mbpsSendRate));
  o.Set("mbpsRecvRate", Napi::Number::New(env, t.mbpsRecvRate));
  o.Set("msRTT", Napi::Number::New(env, t.msRTT));
  o.Set("msRcvBuf", Napi::Number::New(env, t.msRcvBuf));
  o.Set("msSndBuf", Napi::Number::New(env, t.msSndBuf));
  o.Set("msRcvTsbPdDelay", Napi::Number::New(env, t.msRcvTsbPdDelay));
  return o;
}

// ref(keep): whether the poller's events keep the event loop alive (while sockets are open).
Napi::Value Ref(const Napi::CallbackInfo& info) {
  if (info[0].ToBoolean()) g->tsfn.Ref(info.Env()); else g->tsfn.Unref(info.Env());
  return info.Env().Undefined();
}

Napi::Value Version(const Napi::CallbackInfo& info) {
  uint32_t v = srt_getversion();
  return Napi::String::New(info.Env(), std::to_string(v >> 16) + "." + std::to_string((v >> 8) & 0xff) + "." + std::to_string(v & 0xff));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  if (g == nullptr) g = new State();
  exports.Set("start", Napi::Function::New(env, Start));
  exports.Set("listen", Napi::Function::New(env, Listen));
  exports.Set("connect", Napi::Function::New(env, Connect));
  exports.Set("send", Napi::Function::New(env, Send));
  exports.Set("close", Napi::Function::New(env, Close));
  exports.Set("stats", Napi::Function::New(env, Stats));
  exports.Set("version", Napi::Function::New(env, Version));
  exports.Set("ref", Napi::Function::New(env, Ref));
  return exports;
}

}  // namespace

NODE_API_MODULE(veza_srt, Init)
