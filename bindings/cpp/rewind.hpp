// rewind.hpp: a header-only C++17 wrapper over the C ABI of the Rewind
// event store (include/rewind.h, librewind), in namespace Rewind (the name
// "rewind" is taken by the C library's rewind(FILE *)).
// SPDX-License-Identifier: MIT OR Apache-2.0
//
// - Every handle is a move-only RAII class over a std::unique_ptr whose
//   deleter calls the C _close/_free function.
// - Every failure throws Rewind::Error, which carries the rewind_status and
//   the library's message.
// - Byte strings (stream names, ids, data) are std::string_view: views that
//   borrow, never own. Read results are containers with iterators whose
//   EventView elements borrow from the container.
//
// Example:
//   Rewind::Store store = Rewind::Store::open_lmdb("/tmp/my-store");
//   store.append("orders", {{"created"}, {"paid"}}, Rewind::ExpectedVersion::no_stream());
//   for (Rewind::EventView e : store.read_stream("orders"))
//     std::cout << e.version << " " << e.data << "\n";
//
// The same code runs against a Rewind server by changing the constructor:
//   Rewind::Store store = Rewind::Store::connect("tcp://127.0.0.1:9004");
// (a connected store's network failures throw an Error with the status
// REWIND_STATUS_NETWORK).
//
// Thread safety is that of the C ABI: a Store or Server may be used from
// several threads at once (not while it is moved from, closed or destroyed);
// Events and Appended are immutable; ServerOptions is for one thread at a
// time; a Subscription's next() is for one thread at a time, and its
// cancel() may come from any thread.
#ifndef REWIND_HPP
#define REWIND_HPP

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "rewind.h"

namespace Rewind {

/// A failed call: the status code and the library's message.
class Error : public std::runtime_error {
 public:
  Error(rewind_status status, const std::string &message)
      : std::runtime_error(message), status_(status) {}

  /// The status the C function returned.
  rewind_status status() const noexcept { return status_; }

 private:
  rewind_status status_;
};

namespace detail {

inline void check(rewind_status status) {
  if (status != REWIND_STATUS_OK) {
    std::string message = rewind_last_error_message();
    if (message.empty()) message = rewind_status_text(status);
    throw Error(status, message);
  }
}

inline const uint8_t *bytes(std::string_view s) noexcept {
  // An empty view may have no data pointer; the C ABI takes NULL for "no
  // argument", so an empty name or id gets a valid pointer (and is then
  // refused for its length, not for being NULL).
  static const uint8_t empty = 0;
  return s.data() != nullptr ? reinterpret_cast<const uint8_t *>(s.data()) : &empty;
}

inline std::string_view view(const uint8_t *p, size_t n) noexcept {
  return n == 0 ? std::string_view() : std::string_view(reinterpret_cast<const char *>(p), n);
}

struct StoreDeleter {
  void operator()(rewind_store *p) const noexcept { rewind_store_close(p); }
};
struct EventsDeleter {
  void operator()(rewind_events *p) const noexcept { rewind_events_free(p); }
};
struct AppendedDeleter {
  void operator()(rewind_appended *p) const noexcept { rewind_appended_free(p); }
};
struct ServerOptionsDeleter {
  void operator()(rewind_server_options *p) const noexcept { rewind_server_options_free(p); }
};
struct ServerDeleter {
  void operator()(rewind_server *p) const noexcept { rewind_server_free(p); }
};
struct SubscriptionDeleter {
  void operator()(rewind_subscription *p) const noexcept { rewind_subscription_free(p); }
};
struct ClientOptionsDeleter {
  void operator()(rewind_client_options *p) const noexcept { rewind_client_options_free(p); }
};

}  // namespace detail

/// An event owned by the caller (a copy).
struct Event {
  std::string id;
  std::string data;
  std::string stream;
  uint64_t version = 0;
  uint64_t position = 0;
  /// The event's type (UTF-8, empty when it has none).
  std::string type;
  /// The event's metadata (empty when it has none).
  std::string metadata;
};

/// An event borrowed from the object (or the visitor call) that handed it
/// out; the views are valid as long as that object is (or during the call).
struct EventView {
  std::string_view id;
  std::string_view data;
  std::string_view stream;
  uint64_t version = 0;
  uint64_t position = 0;
  std::string_view type;
  std::string_view metadata;

  explicit EventView(const rewind_event &e) noexcept
      : id(detail::view(e.id, e.id_len)),
        data(detail::view(e.data, e.data_len)),
        stream(detail::view(e.stream, e.stream_len)),
        version(e.version),
        position(e.position),
        type(detail::view(e.event_type, e.event_type_len)),
        metadata(detail::view(e.metadata, e.metadata_len)) {}

  /// Copies the event.
  Event to_owned() const {
    return Event{std::string(id),   std::string(data),     std::string(stream), version,
                 position,          std::string(type),     std::string(metadata)};
  }
};

/// A random-access iterator over an array of C items, yielding a view type.
template <class Item, class View>
class ItemIterator {
 public:
  using iterator_category = std::random_access_iterator_tag;
  using value_type = View;
  using difference_type = std::ptrdiff_t;
  using pointer = void;
  using reference = View;

  ItemIterator() noexcept = default;
  explicit ItemIterator(const Item *p) noexcept : p_(p) {}

  View operator*() const noexcept { return View(*p_); }
  View operator[](difference_type n) const noexcept { return View(p_[n]); }
  ItemIterator &operator++() noexcept { ++p_; return *this; }
  ItemIterator operator++(int) noexcept { ItemIterator t = *this; ++p_; return t; }
  ItemIterator &operator--() noexcept { --p_; return *this; }
  ItemIterator operator--(int) noexcept { ItemIterator t = *this; --p_; return t; }
  ItemIterator &operator+=(difference_type n) noexcept { p_ += n; return *this; }
  ItemIterator &operator-=(difference_type n) noexcept { p_ -= n; return *this; }
  friend ItemIterator operator+(ItemIterator i, difference_type n) noexcept { return i += n; }
  friend ItemIterator operator+(difference_type n, ItemIterator i) noexcept { return i += n; }
  friend ItemIterator operator-(ItemIterator i, difference_type n) noexcept { return i -= n; }
  friend difference_type operator-(ItemIterator a, ItemIterator b) noexcept { return a.p_ - b.p_; }
  friend bool operator==(ItemIterator a, ItemIterator b) noexcept { return a.p_ == b.p_; }
  friend bool operator!=(ItemIterator a, ItemIterator b) noexcept { return a.p_ != b.p_; }
  friend bool operator<(ItemIterator a, ItemIterator b) noexcept { return a.p_ < b.p_; }
  friend bool operator>(ItemIterator a, ItemIterator b) noexcept { return a.p_ > b.p_; }
  friend bool operator<=(ItemIterator a, ItemIterator b) noexcept { return a.p_ <= b.p_; }
  friend bool operator>=(ItemIterator a, ItemIterator b) noexcept { return a.p_ >= b.p_; }

 private:
  const Item *p_ = nullptr;
};

/// The events of a read, held in one buffer. Move-only; its EventViews are
/// valid while it lives.
class Events {
 public:
  using iterator = ItemIterator<rewind_event, EventView>;
  using const_iterator = iterator;
  using value_type = EventView;
  using size_type = size_t;

  explicit Events(rewind_events *raw) noexcept : p_(raw) {}

  size_t size() const noexcept { return rewind_events_count(p_.get()); }
  bool empty() const noexcept { return size() == 0; }
  iterator begin() const noexcept { return iterator(rewind_events_items(p_.get())); }
  iterator end() const noexcept { return begin() + static_cast<std::ptrdiff_t>(size()); }
  /// The event at `i`, unchecked.
  EventView operator[](size_t i) const noexcept { return begin()[static_cast<std::ptrdiff_t>(i)]; }
  /// The event at `i`; throws std::out_of_range.
  EventView at(size_t i) const {
    const rewind_event *e = rewind_events_at(p_.get(), i);
    if (e == nullptr) throw std::out_of_range("Rewind::Events::at");
    return EventView(*e);
  }
  EventView front() const { return at(0); }
  EventView back() const { return at(size() - 1); }
  /// The C object, still owned by this one.
  const rewind_events *get() const noexcept { return p_.get(); }

 private:
  std::unique_ptr<rewind_events, detail::EventsDeleter> p_;
};

/// Where one appended event landed; `id` and `stream` borrow from its
/// Appended.
struct AppendedEvent {
  std::string_view id;
  uint64_t version = 0;
  uint64_t position = 0;
  std::string_view stream;

  explicit AppendedEvent(const rewind_append_info &a) noexcept
      : id(detail::view(a.id, a.id_len)), version(a.version), position(a.position) {}
  explicit AppendedEvent(const rewind_append_result &a) noexcept
      : id(detail::view(a.id, a.id_len)),
        version(a.version),
        position(a.position),
        stream(detail::view(a.stream, a.stream_len)) {}
};

/// The outcome of an append, one item per event in append order. Move-only.
class Appended {
 public:
  using iterator = ItemIterator<rewind_append_result, AppendedEvent>;
  using const_iterator = iterator;
  using value_type = AppendedEvent;
  using size_type = size_t;

  explicit Appended(rewind_appended *raw) noexcept : p_(raw) {}

  size_t size() const noexcept { return rewind_appended_count(p_.get()); }
  bool empty() const noexcept { return size() == 0; }
  iterator begin() const noexcept { return iterator(rewind_appended_results(p_.get())); }
  iterator end() const noexcept { return begin() + static_cast<std::ptrdiff_t>(size()); }
  AppendedEvent operator[](size_t i) const noexcept {
    return begin()[static_cast<std::ptrdiff_t>(i)];
  }
  AppendedEvent at(size_t i) const {
    const rewind_append_result *a = rewind_appended_result_at(p_.get(), i);
    if (a == nullptr) throw std::out_of_range("Rewind::Appended::at");
    return AppendedEvent(*a);
  }
  AppendedEvent front() const { return at(0); }
  AppendedEvent back() const { return at(size() - 1); }

 private:
  std::unique_ptr<rewind_appended, detail::AppendedDeleter> p_;
};

/// The condition an append puts on the stream's current version.
struct ExpectedVersion {
  rewind_expected_kind kind = REWIND_EXPECTED_ANY;
  uint64_t version = 0;

  static ExpectedVersion any() noexcept { return {REWIND_EXPECTED_ANY, 0}; }
  static ExpectedVersion no_stream() noexcept { return {REWIND_EXPECTED_NO_STREAM, 0}; }
  static ExpectedVersion stream_exists() noexcept { return {REWIND_EXPECTED_STREAM_EXISTS, 0}; }
  static ExpectedVersion exact(uint64_t v) noexcept { return {REWIND_EXPECTED_EXACT, v}; }
};

/// An event to append: its data and, optionally, its id (otherwise the
/// store generates a UUIDv7), its type (UTF-8, at most 255 bytes) and its
/// metadata. Borrowed for the append call.
struct NewEvent {
  std::string_view data;
  std::optional<std::string_view> id = std::nullopt;
  std::string_view type = {};
  std::string_view metadata = {};
};

/// One stream's share of Store::append_multi. Borrowed for the call.
struct StreamAppend {
  std::string_view stream;
  std::vector<NewEvent> events;
  ExpectedVersion expected = ExpectedVersion::any();
};

/// Which events a filtered read or a subscription passes: streams whose
/// names start with `stream_prefix` (empty: every stream) and, when
/// `event_types` is set, events of one of those types (an empty list passes
/// nothing; an event without a type has the type "").
struct LogFilter {
  std::string_view stream_prefix = {};
  std::optional<std::vector<std::string_view>> event_types = std::nullopt;
};

/// What a Subscription hands out: an event (a copy) or the caught-up
/// marker.
struct SubscriptionItem {
  enum class Kind { Event, CaughtUp };
  Kind kind = Kind::CaughtUp;
  /// The event, when kind is Kind::Event.
  Event event;

  bool is_event() const noexcept { return kind == Kind::Event; }
  bool is_caught_up() const noexcept { return kind == Kind::CaughtUp; }
};

/// Options of an LMDB store; 0 means the default.
struct LmdbOptions {
  size_t initial_map_size = 0;
  size_t max_map_size = 0;
  bool read_only = false;
};

/// The last event of a stream.
struct StreamHead {
  uint64_t version = 0;
  uint64_t position = 0;
};

namespace detail {

template <class F>
struct VisitContext {
  F *f;
  std::exception_ptr error;
};

// Calls the C++ visitor for one event; an exception stops the read and is
// rethrown once the C call has returned (none may cross the C frames).
template <class F>
bool visit_trampoline(void *userdata, const rewind_event *event) noexcept {
  auto *ctx = static_cast<VisitContext<F> *>(userdata);
  try {
    if constexpr (std::is_void_v<std::invoke_result_t<F &, EventView>>) {
      (*ctx->f)(EventView(*event));
      return true;
    } else {
      return static_cast<bool>((*ctx->f)(EventView(*event)));
    }
  } catch (...) {
    ctx->error = std::current_exception();
    return false;
  }
}

template <class F, class Call>
void visit(F &f, Call &&call) {
  VisitContext<F> ctx{&f, nullptr};
  rewind_status status = call(&visit_trampoline<F>, static_cast<void *>(&ctx));
  if (ctx.error) std::rethrow_exception(ctx.error);
  check(status);
}

inline const uint8_t *opt_ptr(const std::optional<std::string_view> &v) noexcept {
  // NULL means absent; a present but empty id gets a non-NULL pointer.
  return v ? bytes(*v) : nullptr;
}

inline size_t opt_len(const std::optional<std::string_view> &v) noexcept {
  return v ? v->size() : 0;
}

inline rewind_new_event_ex new_event_ex(const NewEvent &e) noexcept {
  return rewind_new_event_ex{opt_ptr(e.id),        opt_len(e.id),     bytes(e.type),
                             e.type.size(),        bytes(e.metadata), e.metadata.size(),
                             bytes(e.data),        e.data.size()};
}

inline std::vector<rewind_new_event_ex> new_events_ex(const std::vector<NewEvent> &events) {
  std::vector<rewind_new_event_ex> raw;
  raw.reserve(events.size());
  for (const NewEvent &e : events) raw.push_back(new_event_ex(e));
  return raw;
}

// A rewind_log_filter over a LogFilter, with the array of types it points
// to; valid while both live.
struct RawFilter {
  std::vector<rewind_bytes> types;
  rewind_log_filter filter{};

  explicit RawFilter(const LogFilter &f) {
    filter.stream_prefix = bytes(f.stream_prefix);
    filter.stream_prefix_len = f.stream_prefix.size();
    if (f.event_types) {
      for (std::string_view t : *f.event_types) types.push_back(rewind_bytes{bytes(t), t.size()});
      filter.match_types = true;
      filter.event_types = types.empty() ? nullptr : types.data();
      filter.n_event_types = types.size();
    }
  }
  RawFilter(const RawFilter &) = delete;
  RawFilter &operator=(const RawFilter &) = delete;
};

inline uint64_t from_or_end(std::optional<uint64_t> from) noexcept {
  return from ? *from : REWIND_FROM_END;
}

}  // namespace detail

/// The events of a filtered read and the position to resume from.
struct FilteredEvents {
  Events events;
  /// Every event before this position was returned or skipped by the filter.
  uint64_t next_position = 0;
};

/// A subscription to a store's log: history from a position, the caught-up
/// marker once, then live events, each exactly once, in position order.
/// Move-only; freed by the destructor. next() is for one thread at a time;
/// cancel() may be called from any thread while another waits in next().
class Subscription {
 public:
  /// Takes ownership of a handle from the C ABI.
  explicit Subscription(rewind_subscription *raw) noexcept : p_(raw) {}

  /// Waits up to `timeout` for the next item: nullopt when none came in
  /// time or the subscription is cancelled (see cancelled()). Throws
  /// Rewind::Error (REWIND_STATUS_CLOSED once the store is closed and
  /// everything committed before was handed out).
  std::optional<SubscriptionItem> next(std::chrono::milliseconds timeout) {
    return next_ms(timeout.count() < 0 ? 0 : static_cast<uint64_t>(timeout.count()));
  }

  /// Waits as long as it takes (until an item comes or cancel()).
  std::optional<SubscriptionItem> next() { return next_ms(REWIND_WAIT_FOREVER); }

  /// Cancels: a next() waiting in another thread returns nullopt at once,
  /// and so does every later one. Thread-safe; never throws.
  void cancel() const noexcept { rewind_subscription_cancel(p_.get()); }

  /// Whether next() has seen the subscription cancelled.
  bool cancelled() const noexcept { return cancelled_; }

  /// The position to resume from (every event before it was handed out or
  /// skipped by the filter).
  uint64_t position() const noexcept { return rewind_subscription_position(p_.get()); }

  /// The C handle, still owned by this object.
  rewind_subscription *get() const noexcept { return p_.get(); }

 private:
  std::optional<SubscriptionItem> next_ms(uint64_t ms) {
    rewind_subscription_item item{};
    detail::check(rewind_subscription_next(p_.get(), ms, &item));
    if (item.kind == REWIND_SUBSCRIPTION_EVENT) {
      SubscriptionItem out;
      out.kind = SubscriptionItem::Kind::Event;
      out.event = EventView(*item.event).to_owned();
      return out;
    }
    if (item.kind == REWIND_SUBSCRIPTION_CAUGHT_UP) return SubscriptionItem{};
    if (item.kind == REWIND_SUBSCRIPTION_CANCELLED) cancelled_ = true;
    return std::nullopt;
  }

  std::unique_ptr<rewind_subscription, detail::SubscriptionDeleter> p_;
  bool cancelled_ = false;
};

/// How a connected store talks to its server: the defaults (a request
/// timeout of 5 seconds, 3 retries, no CURVE), changed by the setters
/// (which chain). Store::connect copies them.
class ClientOptions {
 public:
  ClientOptions() {
    rewind_client_options *raw = nullptr;
    detail::check(rewind_client_options_new(&raw));
    p_.reset(raw);
  }

  /// How long a request waits for its reply before it is sent again.
  ClientOptions &timeout(std::chrono::milliseconds t) {
    detail::check(
        rewind_client_options_set_timeout_ms(p_.get(), static_cast<uint64_t>(t.count())));
    return *this;
  }
  /// How many times a request is sent again before it fails with
  /// REWIND_STATUS_NETWORK.
  ClientOptions &retries(uint32_t n) {
    detail::check(rewind_client_options_set_retries(p_.get(), n));
    return *this;
  }
  /// CURVE: the server's public key and this client's key pair (Z85).
  ClientOptions &curve(const std::string &server_public_key, const std::string &public_key,
                       const std::string &secret_key) {
    detail::check(rewind_client_options_set_curve(p_.get(), server_public_key.c_str(),
                                                  public_key.c_str(), secret_key.c_str()));
    return *this;
  }

  const rewind_client_options *get() const noexcept { return p_.get(); }

 private:
  std::unique_ptr<rewind_client_options, detail::ClientOptionsDeleter> p_;
};

/// A CURVE key pair, each key 40 characters of Z85.
struct CurveKeyPair {
  std::string public_key;
  std::string secret_key;
};

/// A new CURVE key pair (for a client's options, or a server's).
inline CurveKeyPair curve_keypair() {
  char pub[REWIND_CURVE_KEY_BUFFER];
  char sec[REWIND_CURVE_KEY_BUFFER];
  detail::check(rewind_curve_keypair(pub, sec));
  return {pub, sec};
}

/// An open event store: embedded (open_lmdb, in_memory) or a server's
/// (connect), with the same methods and errors. Move-only; closed (and
/// freed) by close() or by the destructor. Destroy a Server running on a
/// store before the store.
class Store {
 public:
  /// Opens (creating it when missing) the LMDB store in directory `path`.
  static Store open_lmdb(const std::string &path, const LmdbOptions &options = {}) {
    rewind_store *raw = nullptr;
    detail::check(rewind_store_open_lmdb(path.c_str(), options.initial_map_size,
                                         options.max_map_size, options.read_only, &raw));
    return Store(raw);
  }

  /// Opens a new, empty in-memory store.
  static Store in_memory() {
    rewind_store *raw = nullptr;
    detail::check(rewind_store_open_in_memory(&raw));
    return Store(raw);
  }

  /// The store of the Rewind server whose native endpoint is `endpoint`
  /// (such as "tcp://127.0.0.1:9004"). Does not wait for the server: each
  /// call does, up to the options' timeout and retries.
  static Store connect(const std::string &endpoint, const ClientOptions &options = {}) {
    rewind_store *raw = nullptr;
    detail::check(rewind_store_connect(endpoint.c_str(), options.get(), &raw));
    return Store(raw);
  }

  /// Takes ownership of a handle from the C ABI.
  explicit Store(rewind_store *raw) noexcept : p_(raw) {}

  /// Closes the store now, reporting a failure of the final sync (the
  /// destructor ignores it). The Store is empty afterwards.
  void close() { detail::check(rewind_store_close(p_.release())); }

  /// Appends events atomically if `expected` holds; blocks until durable.
  /// Re-sending an append whose events (by id) are stored identically
  /// returns the original positions (a safe retry).
  Appended append(std::string_view stream, const std::vector<NewEvent> &events,
                  ExpectedVersion expected = ExpectedVersion::any()) const {
    std::vector<rewind_new_event_ex> raw = detail::new_events_ex(events);
    rewind_appended *out = nullptr;
    detail::check(rewind_store_append_ex(p_.get(), detail::bytes(stream), stream.size(),
                                         raw.data(), raw.size(), expected.kind, expected.version,
                                         &out));
    return Appended(out);
  }

  /// Appends to several streams in one atomic commit, each with its own
  /// expected version: all or nothing. The result lists every event, part
  /// by part, with its stream.
  Appended append_multi(const std::vector<StreamAppend> &parts) const {
    std::vector<std::vector<rewind_new_event_ex>> events;
    std::vector<rewind_stream_append> raw;
    events.reserve(parts.size());
    raw.reserve(parts.size());
    for (const StreamAppend &p : parts) {
      events.push_back(detail::new_events_ex(p.events));
      raw.push_back(rewind_stream_append{detail::bytes(p.stream), p.stream.size(), p.expected.kind,
                                         p.expected.version, events.back().data(),
                                         events.back().size()});
    }
    rewind_appended *out = nullptr;
    detail::check(rewind_store_append_multi(p_.get(), raw.data(), raw.size(), &out));
    return Appended(out);
  }

  /// Up to `limit` events of `stream` backwards from `from_version`
  /// (inclusive; nullopt: from the last).
  Events read_stream_backward(std::string_view stream,
                              std::optional<uint64_t> from_version = std::nullopt,
                              size_t limit = SIZE_MAX) const {
    rewind_events *out = nullptr;
    detail::check(rewind_store_read_stream_backward(p_.get(), detail::bytes(stream),
                                                    stream.size(),
                                                    detail::from_or_end(from_version), limit,
                                                    &out));
    return Events(out);
  }

  /// Up to `limit` events of the log backwards from `from_position`
  /// (inclusive; nullopt: from the last).
  Events read_log_backward(std::optional<uint64_t> from_position = std::nullopt,
                           size_t limit = SIZE_MAX) const {
    rewind_events *out = nullptr;
    detail::check(rewind_store_read_log_backward(p_.get(), detail::from_or_end(from_position),
                                                 limit, &out));
    return Events(out);
  }

  /// Up to `limit` events of the log from `from_position` on that `filter`
  /// passes, and the position to resume from.
  FilteredEvents read_log_filtered(uint64_t from_position, const LogFilter &filter,
                                   size_t limit = SIZE_MAX) const {
    detail::RawFilter raw(filter);
    rewind_events *out = nullptr;
    uint64_t next = 0;
    detail::check(
        rewind_store_read_log_filtered(p_.get(), from_position, limit, &raw.filter, &out, &next));
    return FilteredEvents{Events(out), next};
  }

  /// Subscribes to the log from `from_position` (nullopt: from now), with
  /// the events `filter` passes.
  Subscription subscribe(std::optional<uint64_t> from_position = std::nullopt,
                         const LogFilter &filter = {}) const {
    detail::RawFilter raw(filter);
    rewind_subscription *out = nullptr;
    detail::check(rewind_store_subscribe(
        p_.get(), from_position ? *from_position : REWIND_FROM_NOW, &raw.filter, &out));
    return Subscription(out);
  }

  /// Up to `limit` events of `stream` from version `from_version` on.
  Events read_stream(std::string_view stream, uint64_t from_version = 0,
                     size_t limit = SIZE_MAX) const {
    rewind_events *out = nullptr;
    detail::check(rewind_store_read_stream(p_.get(), detail::bytes(stream), stream.size(),
                                           from_version, limit, &out));
    return Events(out);
  }

  /// Up to `limit` events of the whole log from `from_position` on.
  Events read_log(uint64_t from_position = 0, size_t limit = SIZE_MAX) const {
    rewind_events *out = nullptr;
    detail::check(rewind_store_read_log(p_.get(), from_position, limit, &out));
    return Events(out);
  }

  /// The range query of the wire protocols: events of `stream` after `from`
  /// (exclusive) up to `to` (inclusive); nullopt is an open bound.
  Events query(std::string_view stream, std::optional<std::string_view> from = std::nullopt,
               std::optional<std::string_view> to = std::nullopt,
               size_t limit = SIZE_MAX) const {
    rewind_events *out = nullptr;
    detail::check(rewind_store_query(p_.get(), detail::bytes(stream), stream.size(),
                                     detail::opt_ptr(from), detail::opt_len(from),
                                     detail::opt_ptr(to), detail::opt_len(to), limit, &out));
    return Events(out);
  }

  /// The versions [first, second) of `stream` that query() would return.
  std::pair<uint64_t, uint64_t> resolve_range(
      std::string_view stream, std::optional<std::string_view> from = std::nullopt,
      std::optional<std::string_view> to = std::nullopt) const {
    uint64_t start = 0, end = 0;
    detail::check(rewind_store_resolve_range(p_.get(), detail::bytes(stream), stream.size(),
                                             detail::opt_ptr(from), detail::opt_len(from),
                                             detail::opt_ptr(to), detail::opt_len(to), &start,
                                             &end));
    return {start, end};
  }

  /// Calls `f(EventView)` for each event of `stream` from `from_version` on,
  /// without copying; `f` may return bool (false stops) or void. The views
  /// are valid only during the call. `f` must not use this store.
  template <class F>
  void visit_stream(std::string_view stream, uint64_t from_version, size_t limit, F &&f) const {
    detail::visit(f, [&](rewind_visitor v, void *ud) {
      return rewind_store_read_stream_visit(p_.get(), detail::bytes(stream), stream.size(),
                                            from_version, limit, v, ud);
    });
  }

  /// As visit_stream, over the whole log from `from_position` on.
  template <class F>
  void visit_log(uint64_t from_position, size_t limit, F &&f) const {
    detail::visit(f, [&](rewind_visitor v, void *ud) {
      return rewind_store_read_log_visit(p_.get(), from_position, limit, v, ud);
    });
  }

  /// As visit_stream, over the events query() would return.
  template <class F>
  void visit_query(std::string_view stream, std::optional<std::string_view> from,
                   std::optional<std::string_view> to, size_t limit, F &&f) const {
    detail::visit(f, [&](rewind_visitor v, void *ud) {
      return rewind_store_query_visit(p_.get(), detail::bytes(stream), stream.size(),
                                      detail::opt_ptr(from), detail::opt_len(from),
                                      detail::opt_ptr(to), detail::opt_len(to), limit, v, ud);
    });
  }

  /// As visit_stream, backwards from `from_version` (nullopt: the last).
  template <class F>
  void visit_stream_backward(std::string_view stream, std::optional<uint64_t> from_version,
                             size_t limit, F &&f) const {
    detail::visit(f, [&](rewind_visitor v, void *ud) {
      return rewind_store_read_stream_backward_visit(p_.get(), detail::bytes(stream),
                                                     stream.size(),
                                                     detail::from_or_end(from_version), limit, v,
                                                     ud);
    });
  }

  /// As visit_log, backwards from `from_position` (nullopt: the last).
  template <class F>
  void visit_log_backward(std::optional<uint64_t> from_position, size_t limit, F &&f) const {
    detail::visit(f, [&](rewind_visitor v, void *ud) {
      return rewind_store_read_log_backward_visit(p_.get(), detail::from_or_end(from_position),
                                                  limit, v, ud);
    });
  }

  /// As visit_log, over the events `filter` passes; returns the position to
  /// resume from.
  template <class F>
  uint64_t visit_log_filtered(uint64_t from_position, const LogFilter &filter, size_t limit,
                              F &&f) const {
    detail::RawFilter raw(filter);
    uint64_t next = 0;
    detail::visit(f, [&](rewind_visitor v, void *ud) {
      return rewind_store_read_log_filtered_visit(p_.get(), from_position, limit, &raw.filter, v,
                                                  ud, &next);
    });
    return next;
  }

  /// The event with this id, if any (a copy).
  std::optional<Event> get(std::string_view id) const {
    rewind_events *out = nullptr;
    detail::check(rewind_store_get(p_.get(), detail::bytes(id), id.size(), &out));
    Events events(out);
    if (events.empty()) return std::nullopt;
    return events.front().to_owned();
  }

  /// Whether an event with this id is stored.
  bool contains(std::string_view id) const {
    bool found = false;
    detail::check(rewind_store_contains(p_.get(), detail::bytes(id), id.size(), &found));
    return found;
  }

  /// The last event of `stream`, nullopt when the stream does not exist.
  std::optional<StreamHead> stream_head(std::string_view stream) const {
    bool exists = false;
    StreamHead head;
    detail::check(rewind_store_stream_head(p_.get(), detail::bytes(stream), stream.size(),
                                           &exists, &head.version, &head.position));
    if (!exists) return std::nullopt;
    return head;
  }

  /// The position the next event will get (the number of events stored).
  uint64_t next_position() const {
    uint64_t n = 0;
    detail::check(rewind_store_next_position(p_.get(), &n));
    return n;
  }

  /// The C handle, still owned by this object (NULL after close()).
  rewind_store *get() const noexcept { return p_.get(); }

 private:
  std::unique_ptr<rewind_store, detail::StoreDeleter> p_;
};

/// Why a server stopped, or that it still runs.
enum class ServerState : uint32_t {
  Running = REWIND_SERVER_STATE_RUNNING,
  Stopped = REWIND_SERVER_STATE_STOPPED,
  ExitCodeword = REWIND_SERVER_STATE_EXIT_CODEWORD,
};

/// One kind of endpoint of a server.
enum class EndpointKind : uint32_t {
  Query = REWIND_ENDPOINT_QUERY,          ///< v1 query (REQ clients)
  Streaming = REWIND_ENDPOINT_STREAMING,  ///< v1 streaming (PUB)
  Command = REWIND_ENDPOINT_COMMAND,      ///< v2 command (DEALER clients)
  Publish = REWIND_ENDPOINT_PUBLISH,      ///< v2 publish (PUB)
  Metrics = REWIND_ENDPOINT_METRICS,      ///< metrics (HTTP, HOST:PORT)
  Native = REWIND_ENDPOINT_NATIVE,        ///< native protocol (Store::connect)
};

/// The server's options: the embedded default, changed by the setters
/// (which chain). Endpoint lists are comma-separated; "" disables one.
class ServerOptions {
 public:
  ServerOptions() {
    rewind_server_options *raw = nullptr;
    detail::check(rewind_server_options_new(&raw));
    p_.reset(raw);
  }

  ServerOptions &query_endpoints(const std::string &eps) {
    detail::check(rewind_server_options_set_query_endpoints(p_.get(), eps.c_str()));
    return *this;
  }
  ServerOptions &streaming_endpoints(const std::string &eps) {
    detail::check(rewind_server_options_set_streaming_endpoints(p_.get(), eps.c_str()));
    return *this;
  }
  ServerOptions &command_endpoints(const std::string &eps) {
    detail::check(rewind_server_options_set_command_endpoints(p_.get(), eps.c_str()));
    return *this;
  }
  ServerOptions &publish_endpoints(const std::string &eps) {
    detail::check(rewind_server_options_set_publish_endpoints(p_.get(), eps.c_str()));
    return *this;
  }
  /// The native protocol's endpoints, which Store::connect connects to.
  ServerOptions &native_endpoints(const std::string &eps) {
    detail::check(rewind_server_options_set_native_endpoints(p_.get(), eps.c_str()));
    return *this;
  }
  /// CURVE: the server's secret key (Z85), and the public keys of the
  /// clients it lets in (comma-separated).
  ServerOptions &curve(const std::string &secret_key, const std::string &allowed_clients) {
    detail::check(rewind_server_options_set_curve_secret_key(p_.get(), secret_key.c_str()));
    detail::check(
        rewind_server_options_set_curve_allowed_clients(p_.get(), allowed_clients.c_str()));
    return *this;
  }
  /// Serve Prometheus metrics at http://HOST:PORT/metrics; "" serves none.
  ServerOptions &metrics_address(const std::string &address) {
    detail::check(rewind_server_options_set_metrics_address(p_.get(), address.c_str()));
    return *this;
  }
  ServerOptions &zmq_io_threads(int32_t n) {
    detail::check(rewind_server_options_set_zmq_io_threads(p_.get(), n));
    return *this;
  }
  /// The exit codeword; nullopt removes it.
  ServerOptions &exit_codeword(std::optional<std::string_view> codeword) {
    detail::check(rewind_server_options_set_exit_codeword(p_.get(), detail::opt_ptr(codeword),
                                                          detail::opt_len(codeword)));
    return *this;
  }
  ServerOptions &max_message_size(size_t bytes) {
    detail::check(rewind_server_options_set_max_message_size(p_.get(), bytes));
    return *this;
  }
  ServerOptions &default_stream(std::string_view stream) {
    detail::check(rewind_server_options_set_default_stream(
        p_.get(), detail::opt_ptr(std::optional<std::string_view>(stream)), stream.size()));
    return *this;
  }

  const rewind_server_options *get() const noexcept { return p_.get(); }

 private:
  std::unique_ptr<rewind_server_options, detail::ServerOptionsDeleter> p_;
};

/// A server running in-process. Move-only; the destructor stops it and
/// waits for it.
class Server {
 public:
  /// Starts a server on `store`; returns once every endpoint is bound.
  static Server start(const Store &store, const ServerOptions &options) {
    rewind_server *raw = nullptr;
    detail::check(rewind_server_start(store.get(), options.get(), &raw));
    return Server(raw);
  }

  /// Opens the LMDB store at `path` and starts a server that owns it.
  static Server start_lmdb(const std::string &path, const ServerOptions &options,
                           size_t max_map_size = 0) {
    rewind_server *raw = nullptr;
    detail::check(rewind_server_start_lmdb(path.c_str(), max_map_size, options.get(), &raw));
    return Server(raw);
  }

  explicit Server(rewind_server *raw) noexcept : p_(raw) {}

  /// Asks the server to stop; does not block.
  void stop() const { detail::check(rewind_server_stop(p_.get())); }

  /// Waits up to `timeout` for the server to stop.
  ServerState wait(std::chrono::milliseconds timeout) const {
    rewind_server_state state = REWIND_SERVER_STATE_RUNNING;
    detail::check(rewind_server_wait(p_.get(), static_cast<int64_t>(timeout.count()), &state));
    return static_cast<ServerState>(state);
  }

  /// Waits for as long as it takes for the server to stop.
  ServerState wait() const {
    rewind_server_state state = REWIND_SERVER_STATE_RUNNING;
    detail::check(rewind_server_wait(p_.get(), -1, &state));
    return static_cast<ServerState>(state);
  }

  /// The endpoints of `kind` the server bound, comma-separated, with the
  /// port the system chose for a wildcard port (`tcp://127.0.0.1:*`); ""
  /// when the server has none of this kind. A copy: it outlives the server.
  std::string endpoints(EndpointKind kind) const {
    const char *list = nullptr;
    detail::check(
        rewind_server_endpoints(p_.get(), static_cast<rewind_endpoint_kind>(kind), &list));
    return list;
  }

  rewind_server *get() const noexcept { return p_.get(); }

 private:
  std::unique_ptr<rewind_server, detail::ServerDeleter> p_;
};

/// The version of librewind.
inline std::string_view version() noexcept { return rewind_version(); }

}  // namespace Rewind

#endif  // REWIND_HPP
