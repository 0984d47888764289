// Tests of bindings/cpp/rewind.hpp: the store through the wrapper (round
// trip, expected versions, iterators, visitors, errors as exceptions), a
// server started in-process that a libzmq client talks to over both
// protocols, and the event-sourcing tests run twice, on an embedded store
// and on one connected to a server (Store::connect).
// SPDX-License-Identifier: MIT OR Apache-2.0
#include <unistd.h>
#include <zmq.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iostream>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "rewind.hpp"

namespace {

int failures_in_test = 0;
int passed = 0;
int failed = 0;

#define CHECK(cond)                                                                   \
  do {                                                                                \
    if (!(cond)) {                                                                    \
      std::cerr << __FILE__ << ":" << __LINE__ << ": CHECK failed: " #cond "\n";     \
      failures_in_test++;                                                             \
    }                                                                                 \
  } while (0)

// Runs `expr` and checks that it throws Rewind::Error with `want`.
#define CHECK_THROWS(expr, want)                                                      \
  do {                                                                                \
    bool thrown_ = false;                                                             \
    try {                                                                             \
      (void)(expr);                                                                   \
    } catch (const Rewind::Error &e) {                                                \
      thrown_ = true;                                                                 \
      if (e.status() != (want)) {                                                     \
        std::cerr << __FILE__ << ":" << __LINE__ << ": " #expr " threw status "      \
                  << e.status() << " (" << e.what() << "), wanted " << (want) << "\n"; \
        failures_in_test++;                                                           \
      }                                                                               \
    }                                                                                 \
    if (!thrown_) {                                                                   \
      std::cerr << __FILE__ << ":" << __LINE__ << ": " #expr " did not throw\n";     \
      failures_in_test++;                                                             \
    }                                                                                 \
  } while (0)

void run(const char *name, const std::function<void()> &test) {
  failures_in_test = 0;
  try {
    test();
  } catch (const std::exception &e) {
    std::cerr << name << ": unexpected exception: " << e.what() << "\n";
    failures_in_test++;
  }
  if (failures_in_test == 0) {
    passed++;
    std::cout << "ok - " << name << std::endl;
  } else {
    failed++;
    std::cout << "FAILED - " << name << std::endl;
  }
}

// The wrapper's types are move-only.
static_assert(!std::is_copy_constructible_v<Rewind::Store>);
static_assert(std::is_nothrow_move_constructible_v<Rewind::Store>);
static_assert(!std::is_copy_constructible_v<Rewind::Events>);
static_assert(!std::is_copy_constructible_v<Rewind::Server>);
static_assert(!std::is_copy_constructible_v<Rewind::ServerOptions>);
static_assert(!std::is_copy_constructible_v<Rewind::Subscription>);
static_assert(std::is_nothrow_move_constructible_v<Rewind::Subscription>);

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "rewind-cpp-test-XXXXXX").string();
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (mkdtemp(buf.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path = buf.data();
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

void store_round_trip() {
  TempDir dir;
  std::string first_id;
  {
    Rewind::Store store = Rewind::Store::open_lmdb((dir.path / "db").string());
    Rewind::Appended a = store.append("cart-7", {{"added apple"}, {"added pear", "pear-1"}},
                                      Rewind::ExpectedVersion::no_stream());
    CHECK(a.size() == 2);
    CHECK(a[0].id.size() == 36 && a[0].version == 0 && a[0].position == 0);
    CHECK(a[1].id == "pear-1" && a[1].version == 1);
    first_id = std::string(a[0].id);
    store.append("other", {{"x"}});

    Rewind::Events events = store.read_stream("cart-7");
    CHECK(events.size() == 2);
    std::vector<std::string> data;
    for (Rewind::EventView e : events) data.emplace_back(e.data);
    CHECK((data == std::vector<std::string>{"added apple", "added pear"}));
    CHECK(events[1].stream == "cart-7" && events.back().id == "pear-1");
    // Random-access iterators work with the standard algorithms.
    auto it = std::find_if(events.begin(), events.end(),
                           [](Rewind::EventView e) { return e.id == "pear-1"; });
    CHECK(it != events.end() && it - events.begin() == 1);
    bool out_of_range = false;
    try {
      (void)events.at(2);
    } catch (const std::out_of_range &) {
      out_of_range = true;
    }
    CHECK(out_of_range);
  }
  {
    Rewind::Store store = Rewind::Store::open_lmdb((dir.path / "db").string(), {0, 0, true});
    CHECK(store.next_position() == 3);
    std::optional<Rewind::Event> e = store.get(first_id);
    CHECK(e && e->data == "added apple" && e->stream == "cart-7" && e->position == 0);
    CHECK(!store.get("missing"));
    CHECK(store.contains("pear-1") && !store.contains("missing"));
    std::optional<Rewind::StreamHead> head = store.stream_head("cart-7");
    CHECK(head && head->version == 1 && head->position == 1);
    CHECK(!store.stream_head("nope"));
    Rewind::Events log = store.read_log(1, 5);
    CHECK(log.size() == 2 && log.front().position == 1 && log.back().stream == "other");
    CHECK_THROWS(store.append("cart-7", {{"no"}}), REWIND_STATUS_READ_ONLY);
    store.close();
    CHECK(store.get() == nullptr);
  }
}

void expected_versions_and_errors() {
  Rewind::Store store = Rewind::Store::in_memory();
  store.append("s", {{"a"}}, Rewind::ExpectedVersion::no_stream());
  CHECK_THROWS(store.append("s", {{"b"}}, Rewind::ExpectedVersion::no_stream()),
               REWIND_STATUS_WRONG_EXPECTED_VERSION);
  try {
    store.append("s", {{"b"}}, Rewind::ExpectedVersion::exact(5));
    CHECK(false);
  } catch (const Rewind::Error &e) {
    CHECK(std::string(e.what()).find("stream is at version 0") != std::string::npos);
  }
  store.append("s", {{"b"}}, Rewind::ExpectedVersion::exact(0));
  store.append("s", {{"c"}}, Rewind::ExpectedVersion::stream_exists());
  CHECK_THROWS(store.append("t", {{"c"}}, Rewind::ExpectedVersion::stream_exists()),
               REWIND_STATUS_WRONG_EXPECTED_VERSION);
  CHECK_THROWS(store.append("s", {}), REWIND_STATUS_INVALID_ARGUMENT);
  CHECK_THROWS(store.append("", {{"x"}}), REWIND_STATUS_INVALID_ARGUMENT);
  CHECK_THROWS(store.append("s", {{"x", std::string_view()}}), REWIND_STATUS_INVALID_ARGUMENT);
  store.append("s", {{"d", "id-d"}});
  CHECK_THROWS(store.append("s", {{"e", "id-d"}}), REWIND_STATUS_DUPLICATE_ID);
  CHECK_THROWS(store.query("s", "nope"), REWIND_STATUS_UNKNOWN_ID);
  CHECK_THROWS(store.query("t", "id-d"), REWIND_STATUS_ID_NOT_IN_STREAM);
  CHECK(store.read_stream("s").size() == 4);

  // Names and ids of 0 or 256 bytes are refused by reads as by appends, an
  // empty view included.
  const std::string long_name(256, 'n');
  CHECK_THROWS(store.read_stream(""), REWIND_STATUS_INVALID_ARGUMENT);
  CHECK_THROWS(store.read_stream(std::string_view()), REWIND_STATUS_INVALID_ARGUMENT);
  CHECK_THROWS(store.read_stream(long_name), REWIND_STATUS_INVALID_ARGUMENT);
  CHECK_THROWS(store.stream_head(""), REWIND_STATUS_INVALID_ARGUMENT);
  CHECK_THROWS(store.query("s", ""), REWIND_STATUS_INVALID_ARGUMENT);
  CHECK_THROWS(store.query("s", std::nullopt, long_name), REWIND_STATUS_INVALID_ARGUMENT);
  CHECK_THROWS(store.get(""), REWIND_STATUS_INVALID_ARGUMENT);
  CHECK_THROWS(store.contains(long_name), REWIND_STATUS_INVALID_ARGUMENT);
  CHECK(!store.contains(std::string(255, 'i')));
}

void queries_and_visitors() {
  Rewind::Store store = Rewind::Store::in_memory();
  for (int i = 0; i < 6; i++) {
    std::string id = "e" + std::to_string(i);
    store.append("s", {{id, id}});
  }
  Rewind::Events q = store.query("s", "e1", "e4");
  CHECK(q.size() == 3 && q.front().id == "e2" && q.back().id == "e4");
  CHECK(store.query("s", std::nullopt, "e0").size() == 1);
  CHECK(store.query("s", "e0", std::nullopt, 2).size() == 2);
  CHECK((store.resolve_range("s", "e1", "e4") == std::pair<uint64_t, uint64_t>{2, 5}));
  CHECK_THROWS(store.query("s", "e4", "e1"), REWIND_STATUS_RANGE_ORDER);

  std::vector<uint64_t> versions;
  store.visit_stream("s", 2, SIZE_MAX, [&](Rewind::EventView e) { versions.push_back(e.version); });
  CHECK((versions == std::vector<uint64_t>{2, 3, 4, 5}));
  int seen = 0;
  store.visit_log(0, SIZE_MAX, [&](Rewind::EventView) { return ++seen < 3; });
  CHECK(seen == 3);
  std::string ids;
  store.visit_query("s", "e3", std::nullopt, SIZE_MAX,
                    [&](Rewind::EventView e) { ids += std::string(e.id) + ","; });
  CHECK(ids == "e4,e5,");
  // An exception in a visitor stops the read and reaches the caller intact.
  seen = 0;
  try {
    store.visit_log(0, SIZE_MAX, [&](Rewind::EventView) {
      if (++seen == 2) throw std::logic_error("stop here");
    });
    CHECK(false);
  } catch (const std::logic_error &e) {
    CHECK(std::string(e.what()) == "stop here");
  }
  CHECK(seen == 2);
  CHECK_THROWS(store.visit_query("s", "zz", std::nullopt, SIZE_MAX, [](Rewind::EventView) {}),
               REWIND_STATUS_UNKNOWN_ID);
}

void handles_move_and_are_shared_by_threads() {
  Rewind::Store a = Rewind::Store::in_memory();
  Rewind::Store b = std::move(a);
  CHECK(a.get() == nullptr && b.get() != nullptr);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; t++) {
    threads.emplace_back([&b, t] {
      std::string stream = "thread-" + std::to_string(t);
      for (uint64_t v = 0; v < 20; v++) {
        b.append(stream, {{"x"}},
                 v == 0 ? Rewind::ExpectedVersion::no_stream() : Rewind::ExpectedVersion::exact(v - 1));
      }
    });
  }
  for (std::thread &t : threads) t.join();
  CHECK(b.next_position() == 80);
  // A moved-from store fails cleanly.
  CHECK_THROWS(a.next_position(), REWIND_STATUS_NULL_PARAMETER);
}

// --- the server, through a libzmq client -----------------------------------

struct Frames : std::vector<std::string> {};

Frames recv_message(void *socket) {
  Frames f;
  int more = 0;
  do {
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    if (zmq_msg_recv(&msg, socket, 0) < 0) {
      zmq_msg_close(&msg);
      throw std::runtime_error("receive timed out");
    }
    f.emplace_back(static_cast<const char *>(zmq_msg_data(&msg)), zmq_msg_size(&msg));
    zmq_msg_close(&msg);
    size_t len = sizeof more;
    zmq_getsockopt(socket, ZMQ_RCVMORE, &more, &len);
  } while (more);
  return f;
}

void send_message(void *socket, const std::vector<std::string> &frames) {
  for (size_t i = 0; i < frames.size(); i++) {
    if (zmq_send(socket, frames[i].data(), frames[i].size(),
                 i + 1 < frames.size() ? ZMQ_SNDMORE : 0) < 0) {
      throw std::runtime_error("send failed");
    }
  }
}

struct Socket {
  void *s;
  Socket(void *ctx, int type, const std::string &endpoint) : s(zmq_socket(ctx, type)) {
    int timeout = 20000, linger = 0;
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    if (type == ZMQ_SUB) zmq_setsockopt(s, ZMQ_SUBSCRIBE, "", 0);
    zmq_connect(s, endpoint.c_str());
  }
  ~Socket() { zmq_close(s); }
  Socket(const Socket &) = delete;
  Socket &operator=(const Socket &) = delete;
};

struct Context {
  void *ctx = zmq_ctx_new();
  ~Context() { zmq_ctx_term(ctx); }
};

int next_port = 0;

// Starts a server with the four endpoints on free ports; `opts` is changed.
Rewind::Server start_server(const Rewind::Store &store, Rewind::ServerOptions &opts, int &port) {
  for (int attempt = 0; attempt < 40; attempt++) {
    if (next_port == 0) next_port = 52000 - static_cast<int>(getpid() % 2000) * 8;
    port = next_port;
    next_port += 4;
    auto ep = [&](int k) { return "tcp://127.0.0.1:" + std::to_string(port + k); };
    opts.query_endpoints(ep(0)).streaming_endpoints(ep(1)).command_endpoints(ep(2)).publish_endpoints(ep(3));
    try {
      return Rewind::Server::start(store, opts);
    } catch (const Rewind::Error &e) {
      if (e.status() != REWIND_STATUS_BIND) throw;
    }
  }
  throw std::runtime_error("no free ports");
}

void server_over_both_protocols() {
  Context ctx;
  Rewind::Store store = Rewind::Store::in_memory();
  Rewind::ServerOptions opts;
  opts.exit_codeword("bye").default_stream("main");
  int port = 0;
  Rewind::Server server = start_server(store, opts, port);
  auto ep = [&](int k) { return "tcp://127.0.0.1:" + std::to_string(port + k); };
  CHECK(server.wait(std::chrono::milliseconds(0)) == Rewind::ServerState::Running);

  Socket req(ctx.ctx, ZMQ_REQ, ep(0));
  Socket dealer(ctx.ctx, ZMQ_DEALER, ep(2));
  Socket sub(ctx.ctx, ZMQ_SUB, ep(3));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));

  send_message(req.s, {"PUBLISH", "v1 event"});
  CHECK((recv_message(req.s) == Frames{{"PUBLISHED"}}));
  Frames pub = recv_message(sub.s);
  CHECK(pub.size() == 3 && pub[0] == "main" && pub[2] == "v1 event");

  send_message(dealer.s, {"", "PUBLISH", "main", "v2 event"});
  Frames r = recv_message(dealer.s);
  CHECK(r.size() == 3 && r[1] == "PUBLISHED");
  std::string v2_id = r.size() == 3 ? r[2] : "";

  // Both events, through v1, v2 and the wrapper.
  send_message(req.s, {"QUERY", "", ""});
  r = recv_message(req.s);
  CHECK(r.size() == 5 && r[1] == "v1 event" && r[2] == v2_id && r[4] == "END");
  send_message(dealer.s, {"", "QUERY", "main", "", ""});
  CHECK(recv_message(dealer.s)[3] == "v1 event");
  CHECK(recv_message(dealer.s)[3] == "v2 event");
  CHECK((recv_message(dealer.s) == Frames{{"", "END"}}));
  Rewind::Events events = store.read_stream("main");
  CHECK(events.size() == 2 && events[1].id == v2_id);

  send_message(dealer.s, {"", "QUERY", "main", "missing", ""});
  r = recv_message(dealer.s);
  CHECK(r.size() == 2 && r[1].rfind("ERROR ", 0) == 0);

  send_message(req.s, {"bye"});
  CHECK((recv_message(req.s) == Frames{{"QUIT"}}));
  CHECK(server.wait(std::chrono::seconds(30)) == Rewind::ServerState::ExitCodeword);
}

void server_errors_are_exceptions() {
  Rewind::Store store = Rewind::Store::in_memory();
  Rewind::ServerOptions opts;
  opts.query_endpoints("").command_endpoints("");
  CHECK_THROWS(Rewind::Server::start(store, opts), REWIND_STATUS_CONFIG);
  opts.query_endpoints("nonsense://x");
  CHECK_THROWS(Rewind::Server::start(store, opts), REWIND_STATUS_BIND);
  Rewind::ServerOptions threads;
  threads.zmq_io_threads(0);
  CHECK_THROWS(Rewind::Server::start(store, threads), REWIND_STATUS_INVALID_ARGUMENT);

  // stop() then wait(); the destructor of a stopped server is fine.
  Rewind::ServerOptions ok;
  int port = 0;
  Rewind::Server server = start_server(store, ok, port);
  server.stop();
  CHECK(server.wait() == Rewind::ServerState::Stopped);
}

// On wildcard ports, the server tells where it listens.
void server_reports_its_endpoints() {
  Context ctx;
  Rewind::Store store = Rewind::Store::in_memory();
  Rewind::ServerOptions opts;
  opts.query_endpoints("tcp://127.0.0.1:*")
      .streaming_endpoints("")
      .command_endpoints("tcp://127.0.0.1:*")
      .publish_endpoints("")
      .metrics_address("127.0.0.1:0");
  Rewind::Server server = Rewind::Server::start(store, opts);
  std::string query = server.endpoints(Rewind::EndpointKind::Query);
  std::string metrics = server.endpoints(Rewind::EndpointKind::Metrics);
  CHECK(metrics.rfind("127.0.0.1:", 0) == 0 && metrics != "127.0.0.1:0");
  std::string command = server.endpoints(Rewind::EndpointKind::Command);
  CHECK(query.rfind("tcp://127.0.0.1:", 0) == 0 && query.find('*') == std::string::npos);
  CHECK(command.rfind("tcp://127.0.0.1:", 0) == 0 && command != query);
  CHECK(server.endpoints(Rewind::EndpointKind::Streaming).empty());
  CHECK(server.endpoints(Rewind::EndpointKind::Publish).empty());
  CHECK_THROWS(server.endpoints(static_cast<Rewind::EndpointKind>(9)),
               REWIND_STATUS_INVALID_ARGUMENT);

  Socket req(ctx.ctx, ZMQ_REQ, query);
  send_message(req.s, {"PUBLISH", "found"});
  CHECK((recv_message(req.s) == Frames{{"PUBLISHED"}}));
  Socket dealer(ctx.ctx, ZMQ_DEALER, command);
  send_message(dealer.s, {"", "QUERY", "default", "", ""});
  Frames r = recv_message(dealer.s);
  CHECK(r.size() == 4 && r[1] == "EVENT" && r[3] == "found");
  CHECK((recv_message(dealer.s) == Frames{{"", "END"}}));
}

void server_on_an_lmdb_directory() {
  TempDir dir;
  Context ctx;
  std::string path = (dir.path / "data").string();
  std::string id;
  {
    Rewind::ServerOptions opts;
    int port = 0;
    // Find free ports with a throwaway in-memory store, then reuse them.
    {
      Rewind::Store probe = Rewind::Store::in_memory();
      Rewind::Server s = start_server(probe, opts, port);
    }
    Rewind::Server server = Rewind::Server::start_lmdb(path, opts);
    Socket dealer(ctx.ctx, ZMQ_DEALER, "tcp://127.0.0.1:" + std::to_string(port + 2));
    send_message(dealer.s, {"", "PUBLISH", "kept", "on disk"});
    Frames r = recv_message(dealer.s);
    CHECK(r.size() == 3 && r[1] == "PUBLISHED");
    if (r.size() == 3) id = r[2];
  }
  Rewind::Store store = Rewind::Store::open_lmdb(path);
  std::optional<Rewind::Event> e = store.get(id);
  CHECK(e && e->data == "on disk" && e->stream == "kept");
}

void typed_events_and_append_multi(Rewind::Store &store) {
  Rewind::Appended a = store.append(
      "order-1", {{"p", std::string_view("o-1"), "OrderPlaced", "{\"by\":\"ann\"}"}, {"plain"}},
      Rewind::ExpectedVersion::no_stream());
  CHECK(a.size() == 2 && a[0].stream == "order-1" && a[1].version == 1);
  Rewind::Events evs = store.read_stream("order-1");
  CHECK(evs.size() == 2);
  CHECK(evs[0].type == "OrderPlaced" && evs[0].metadata == "{\"by\":\"ann\"}");
  CHECK(evs[1].type.empty() && evs[1].metadata.empty() && evs[1].data == "plain");
  std::optional<Rewind::Event> got = store.get("o-1");
  CHECK(got && got->type == "OrderPlaced" && got->metadata == "{\"by\":\"ann\"}");

  // Across streams: all or nothing.
  std::vector<Rewind::StreamAppend> parts{
      {"acct-a", {{"10", std::nullopt, "Debited"}}, Rewind::ExpectedVersion::no_stream()},
      {"acct-b", {{"10", std::nullopt, "Credited"}}, Rewind::ExpectedVersion::any()}};
  Rewind::Appended m = store.append_multi(parts);
  CHECK(m.size() == 2 && m[0].stream == "acct-a" && m[1].stream == "acct-b");
  CHECK(m[0].position == 2 && m[1].position == 3);
  std::vector<std::string> streams;
  for (Rewind::AppendedEvent e : m) streams.emplace_back(e.stream);
  CHECK((streams == std::vector<std::string>{"acct-a", "acct-b"}));
  std::vector<Rewind::StreamAppend> conflict{
      {"acct-c", {{"x"}}, Rewind::ExpectedVersion::no_stream()},
      {"acct-a", {{"y"}}, Rewind::ExpectedVersion::no_stream()}};
  CHECK_THROWS(store.append_multi(conflict), REWIND_STATUS_WRONG_EXPECTED_VERSION);
  CHECK(store.next_position() == 4 && !store.stream_head("acct-c"));
  CHECK_THROWS(store.append("s", {{"d", std::nullopt, std::string(256, 't')}}),
               REWIND_STATUS_INVALID_ARGUMENT);

  // A retry with the same ids returns the original positions.
  std::vector<Rewind::StreamAppend> with_ids{
      {"r-1", {{"a", std::string_view("rid-1"), "T"}}, Rewind::ExpectedVersion::no_stream()},
      {"r-2", {{"b", std::string_view("rid-2"), "T"}}, Rewind::ExpectedVersion::no_stream()}};
  Rewind::Appended first = store.append_multi(with_ids);
  store.append("other", {{"between"}});
  Rewind::Appended again = store.append_multi(with_ids);
  CHECK(first.size() == 2 && again.size() == 2);
  CHECK(first[0].position == again[0].position && first[1].position == again[1].position);
  CHECK(store.next_position() == 7);
}

void backward_and_filtered_reads(Rewind::Store &store) {
  store.append("order-1", {{"a", std::nullopt, "created"}});  // 0
  store.append("cart-1", {{"b", std::nullopt, "created"}});   // 1
  store.append("order-2", {{"c", std::nullopt, "shipped"}});  // 2
  store.append("order-1", {{"d", std::nullopt, "paid"}});     // 3
  Rewind::Events back = store.read_stream_backward("order-1");
  CHECK(back.size() == 2 && back[0].version == 1 && back[1].version == 0);
  CHECK(store.read_stream_backward("order-1", 0).size() == 1);
  Rewind::Events log = store.read_log_backward(std::nullopt, 3);
  CHECK(log.size() == 3 && log[0].position == 3 && log[2].position == 1);
  std::vector<uint64_t> seen;
  store.visit_log_backward(1, SIZE_MAX, [&](Rewind::EventView e) { seen.push_back(e.position); });
  CHECK((seen == std::vector<uint64_t>{1, 0}));
  seen.clear();
  store.visit_stream_backward("order-1", std::nullopt, 1,
                              [&](Rewind::EventView e) { seen.push_back(e.version); });
  CHECK((seen == std::vector<uint64_t>{1}));

  Rewind::LogFilter filter{"order-", std::vector<std::string_view>{"created", "paid"}};
  Rewind::FilteredEvents f = store.read_log_filtered(0, filter);
  CHECK(f.events.size() == 2 && f.events[0].position == 0 && f.events[1].position == 3);
  CHECK(f.next_position == 4);
  Rewind::FilteredEvents one = store.read_log_filtered(0, filter, 1);
  CHECK(one.events.size() == 1 && one.next_position == 1);
  seen.clear();
  uint64_t next = store.visit_log_filtered(0, Rewind::LogFilter{"cart-"}, SIZE_MAX,
                                           [&](Rewind::EventView e) { seen.push_back(e.position); });
  CHECK((seen == std::vector<uint64_t>{1}) && next == 4);
  Rewind::LogFilter none{"", std::vector<std::string_view>{}};
  CHECK(store.read_log_filtered(0, none).events.empty());
}

void subscription_from_history_to_live(Rewind::Store &store) {
  for (int i = 0; i < 3; i++) store.append("s", {{"history", std::nullopt, "T"}});
  store.append("s", {{"skipped", std::nullopt, "U"}});
  Rewind::Subscription sub =
      store.subscribe(0, Rewind::LogFilter{"", std::vector<std::string_view>{"T"}});
  std::thread writer([&store] {
    for (int i = 0; i < 4; i++) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      store.append("s", {{"live", std::nullopt, "T"}});
    }
  });
  std::vector<uint64_t> positions;
  int caught_up = 0;
  size_t events_before_marker = 0;
  while (positions.size() < 7) {
    std::optional<Rewind::SubscriptionItem> item = sub.next(std::chrono::milliseconds(5000));
    CHECK(item.has_value());
    if (!item) break;
    if (item->is_caught_up()) {
      caught_up++;
      events_before_marker = positions.size();
    } else {
      CHECK(item->event.type == "T" && item->event.stream == "s");
      positions.push_back(item->event.position);
    }
  }
  writer.join();
  CHECK((positions == std::vector<uint64_t>{0, 1, 2, 4, 5, 6, 7}));
  CHECK(caught_up == 1 && events_before_marker >= 3);
  CHECK(!sub.next(std::chrono::milliseconds(10)) && !sub.cancelled());
  CHECK(sub.position() == 8);
}

void cancel_wakes_a_blocked_next(Rewind::Store &store) {
  Rewind::Subscription sub = store.subscribe();
  std::optional<Rewind::SubscriptionItem> first = sub.next(std::chrono::milliseconds(1000));
  CHECK(first && first->is_caught_up());
  std::thread canceller([&sub] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    sub.cancel();
  });
  auto start = std::chrono::steady_clock::now();
  std::optional<Rewind::SubscriptionItem> item = sub.next();  // waits forever but for cancel
  canceller.join();
  CHECK(!item && sub.cancelled());
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(30));
  CHECK(!sub.next(std::chrono::milliseconds(1000)));
  Rewind::Subscription moved = std::move(sub);
  moved.cancel();
}

// Server options with only a native endpoint, on a port the system picks.
Rewind::ServerOptions &native_only(Rewind::ServerOptions &opts) {
  return opts.query_endpoints("")
      .streaming_endpoints("")
      .command_endpoints("")
      .publish_endpoints("")
      .native_endpoints("tcp://127.0.0.1:*");
}

// Runs `test` on a fresh embedded store, then on a fresh store of a server
// in-process, through Store::connect: the same checks must pass on both.
void on_both(const std::string &name, void (*test)(Rewind::Store &)) {
  run((name + " (embedded)").c_str(), [test] {
    Rewind::Store store = Rewind::Store::in_memory();
    test(store);
  });
  run((name + " (connected)").c_str(), [test] {
    Rewind::Store backing = Rewind::Store::in_memory();
    Rewind::ServerOptions opts;
    native_only(opts);
    Rewind::Server server = Rewind::Server::start(backing, opts);
    Rewind::Store store = Rewind::Store::connect(server.endpoints(Rewind::EndpointKind::Native));
    test(store);
    // The events went to the server's store.
    CHECK(backing.next_position() == store.next_position());
    store.close();
  });
}

void connected_store_errors_and_curve() {
  // Nothing listens: a NETWORK error after the timeout and retries.
  std::string endpoint;
  {
    Rewind::Store probe = Rewind::Store::in_memory();
    Rewind::ServerOptions opts;
    opts.query_endpoints("").command_endpoints("").native_endpoints("tcp://127.0.0.1:*");
    Rewind::Server server = Rewind::Server::start(probe, opts);
    endpoint = server.endpoints(Rewind::EndpointKind::Native);
  }
  Rewind::ClientOptions quick;
  quick.timeout(std::chrono::milliseconds(200)).retries(1);
  Rewind::Store gone = Rewind::Store::connect(endpoint, quick);
  CHECK_THROWS(gone.next_position(), REWIND_STATUS_NETWORK);
  CHECK_THROWS(gone.subscribe(0), REWIND_STATUS_NETWORK);
  CHECK_THROWS(Rewind::ClientOptions().timeout(std::chrono::milliseconds(0)),
               REWIND_STATUS_INVALID_ARGUMENT);

  // CURVE: a client whose key the server allows gets in.
  Rewind::CurveKeyPair server_keys = Rewind::curve_keypair();
  Rewind::CurveKeyPair client_keys = Rewind::curve_keypair();
  CHECK(server_keys.public_key.size() == 40 && client_keys.secret_key.size() == 40);
  CHECK(server_keys.public_key != client_keys.public_key);
  Rewind::Store backing = Rewind::Store::in_memory();
  Rewind::ServerOptions opts;
  native_only(opts).curve(server_keys.secret_key, client_keys.public_key);
  Rewind::Server server = Rewind::Server::start(backing, opts);
  Rewind::ClientOptions with_keys;
  with_keys.curve(server_keys.public_key, client_keys.public_key, client_keys.secret_key);
  Rewind::Store store = Rewind::Store::connect(server.endpoints(Rewind::EndpointKind::Native),
                                               with_keys);
  store.append("curve", {{"secret"}});
  CHECK(backing.read_stream("curve").size() == 1);
  CHECK_THROWS(Rewind::Server::start(store, Rewind::ServerOptions()),
               REWIND_STATUS_INVALID_ARGUMENT);
}

}  // namespace

int main() {
  run("store_round_trip", store_round_trip);
  run("expected_versions_and_errors", expected_versions_and_errors);
  run("queries_and_visitors", queries_and_visitors);
  run("handles_move_and_are_shared_by_threads", handles_move_and_are_shared_by_threads);
  run("server_over_both_protocols", server_over_both_protocols);
  run("server_errors_are_exceptions", server_errors_are_exceptions);
  run("server_reports_its_endpoints", server_reports_its_endpoints);
  run("server_on_an_lmdb_directory", server_on_an_lmdb_directory);
  on_both("typed_events_and_append_multi", typed_events_and_append_multi);
  on_both("backward_and_filtered_reads", backward_and_filtered_reads);
  on_both("subscription_from_history_to_live", subscription_from_history_to_live);
  on_both("cancel_wakes_a_blocked_next", cancel_wakes_a_blocked_next);
  run("connected_store_errors_and_curve", connected_store_errors_and_curve);
  std::cout << "cases: " << passed << " passed, " << failed << " failed" << std::endl;
  return failed == 0 ? 0 : 1;
}
