// The C++ wrapper from an installed librewind (include/rewind.hpp of the
// librewind tarball), built by tests/packaging/run.sh with pkg-config.
// Prints "ok <endpoint>" and exits 0 when all went well.
// SPDX-License-Identifier: MIT OR Apache-2.0
#include <rewind.hpp>

#include <iostream>

int main() {
  try {
    Rewind::Store store = Rewind::Store::in_memory();
    store.append("s", {{"from C++"}}, Rewind::ExpectedVersion::no_stream());
    if (store.read_stream("s").size() != 1) return 1;
    Rewind::ServerOptions options;
    options.query_endpoints("").streaming_endpoints("").publish_endpoints("").command_endpoints(
        "tcp://127.0.0.1:*");
    Rewind::Server server = Rewind::Server::start(store, options);
    std::string command = server.endpoints(Rewind::EndpointKind::Command);
    if (command.rfind("tcp://127.0.0.1:", 0) != 0) return 1;
    std::cout << "ok " << command << std::endl;
    server.stop();
    return server.wait() == Rewind::ServerState::Stopped ? 0 : 1;
  } catch (const Rewind::Error &e) {
    std::cerr << "error " << e.status() << ": " << e.what() << std::endl;
    return 1;
  }
}
