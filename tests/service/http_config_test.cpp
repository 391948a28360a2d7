// The HTTP front ends' configuration: vnode.yml's http: section, the bearer
// tokens file (who may read it, what it may hold), and the status mapping.
#include <sys/stat.h>

#include "../unit/test_support.h"
#include "http_api.h"
#include "http_json.h"
#include "http_tokens.h"
#include "kserve_grpc_convert.h"
#include "vnode_manifest.h"

namespace mrt::vnode {
namespace {

const char* kBase = "name: x\nversion: '1'\nruntime: {entrypoint: e, required_mem_mb: 16, max_cpu_share: 0.5}\n";

TEST(HttpConfig, ShippedManifestServesTheUnixSocketOnly) {
  auto m = parse_vnode_manifest(embedded_vnode_manifest(), "vnode.yml");
  ASSERT_TRUE(m) << m.status().to_string();
  EXPECT_TRUE(m->http.unix_socket);
  EXPECT_EQ(m->http.tcp_port, 0);
  EXPECT_EQ(m->http.max_request_bytes, uint64_t{64} << 20);
}

TEST(HttpConfig, SectionParses) {
  auto m = parse_vnode_manifest(std::string(kBase) +
                                    "http: {unix_socket: false, tcp_port: 8080, tokens_file: /t, max_connections: 9,"
                                    " max_request_bytes: 1MB, request_timeout_ms: 500, send_timeout_ms: 700}\n",
                                "v.yml");
  ASSERT_TRUE(m) << m.status().to_string();
  EXPECT_FALSE(m->http.unix_socket);
  EXPECT_EQ(m->http.tcp_port, 8080);
  EXPECT_EQ(m->http.tokens_file, "/t");
  EXPECT_EQ(m->http.max_connections, 9u);
  EXPECT_EQ(m->http.max_request_bytes, 1u << 20);
  EXPECT_EQ(m->http.request_timeout_ms, 500u);
  EXPECT_EQ(m->http.send_timeout_ms, 700u);
}

TEST(HttpConfig, BadSectionsNameTheProblem) {
  struct Case {
    const char* yaml;
    const char* expected;
  } cases[] = {
      {"http: {tcp_port: 8080}\n", "needs 'tokens_file'"},
      {"http: {tcp_port: 70000, tokens_file: /t}\n", "tcp_port"},
      {"http: {max_request_bytes: 10}\n", "at least 1KiB"},
      {"http: {listen: 0.0.0.0}\n", "listen"},
      {"http: {unix_socket: maybe}\n", "unix_socket"},
  };
  for (const auto& c : cases) {
    auto m = parse_vnode_manifest(std::string(kBase) + c.yaml, "v.yml");
    ASSERT_FALSE(m) << c.yaml;
    EXPECT_NE(m.status().message().find(c.expected), std::string::npos) << c.yaml << ": " << m.status().message();
  }
}

// The KServe v2 gRPC front end's grpc: section (grpc_server.h).
TEST(GrpcConfig, ShippedManifestServesTheGrpcSocket) {
  auto m = parse_vnode_manifest(embedded_vnode_manifest(), "vnode.yml");
  ASSERT_TRUE(m) << m.status().to_string();
  EXPECT_TRUE(m->grpc.unix_socket);
  EXPECT_EQ(m->grpc.max_message_bytes, uint64_t{64} << 20);
  EXPECT_EQ(m->grpc.max_calls, 16u);
  EXPECT_EQ(m->grpc.call_timeout_ms, 60000u);
  EXPECT_EQ(m->grpc.max_connections, 64u);
  EXPECT_EQ(m->grpc.connections_per_aid, 16u);
}

TEST(GrpcConfig, OffWithoutTheSectionAndParsesWithIt) {
  auto off = parse_vnode_manifest(kBase, "v.yml");
  ASSERT_TRUE(off) << off.status().to_string();
  EXPECT_FALSE(off->grpc.unix_socket);
  auto m = parse_vnode_manifest(std::string(kBase) +
                                    "grpc: {unix_socket: true, max_calls: 3, max_message_bytes: 2MB, call_timeout_ms: "
                                    "900, max_connections: 5, connections_per_aid: 2}\n",
                                "v.yml");
  ASSERT_TRUE(m) << m.status().to_string();
  EXPECT_TRUE(m->grpc.unix_socket);
  EXPECT_EQ(m->grpc.max_calls, 3u);
  EXPECT_EQ(m->grpc.max_message_bytes, 2u << 20);
  EXPECT_EQ(m->grpc.call_timeout_ms, 900u);
  EXPECT_EQ(m->grpc.max_connections, 5u);
  EXPECT_EQ(m->grpc.connections_per_aid, 2u);
}

TEST(GrpcConfig, BadSectionsNameTheProblem) {
  struct Case {
    const char* yaml;
    const char* expected;
  } cases[] = {
      {"grpc: {max_message_bytes: 10}\n", "between 1KiB and 1GiB"},
      {"grpc: {max_message_bytes: 2GB}\n", "between 1KiB and 1GiB"},
      {"grpc: {max_calls: 0}\n", "max_calls"},
      {"grpc: {call_timeout_ms: -1}\n", "call_timeout_ms"},
      {"grpc: {max_connections: 0}\n", "max_connections"},
      {"grpc: {connections_per_aid: 0}\n", "connections_per_aid"},
      {"grpc: {tcp_port: 8001}\n", "tcp_port"},
      {"grpc: {unix_socket: maybe}\n", "unix_socket"},
  };
  for (const auto& c : cases) {
    auto m = parse_vnode_manifest(std::string(kBase) + c.yaml, "v.yml");
    ASSERT_FALSE(m) << c.yaml;
    EXPECT_NE(m.status().message().find(c.expected), std::string::npos) << c.yaml << ": " << m.status().message();
  }
}

TEST(HttpConfig, TokensFileMapsTokensToAids) {
  test::TempDir dir;
  auto f = dir.write("tokens", "# comment\n\n1000 aaaaaaaaaaaaaaaaaaaa\n01001 bbbbbbbbbbbbbbbbbbbb  # trailing\n");
  ::chmod(f.c_str(), 0600);
  auto t = BearerTokens::load(f, ::geteuid());
  ASSERT_TRUE(t) << t.status().to_string();
  EXPECT_EQ(t->size(), 2u);
  EXPECT_EQ(t->aid_for("aaaaaaaaaaaaaaaaaaaa"), "1000");
  EXPECT_EQ(t->aid_for("bbbbbbbbbbbbbbbbbbbb"), "1001");
  EXPECT_FALSE(t->aid_for("aaaaaaaaaaaaaaaaaaa"));   // a prefix
  EXPECT_FALSE(t->aid_for("aaaaaaaaaaaaaaaaaaaaa")); // one more
  EXPECT_FALSE(t->aid_for(""));
}

TEST(HttpConfig, TokensFileIsRefusedWhenOthersCouldReadItOrItIsMalformed) {
  test::TempDir dir;
  auto readable = dir.write("open", "1000 aaaaaaaaaaaaaaaaaaaa\n");
  ::chmod(readable.c_str(), 0644);
  auto t = BearerTokens::load(readable, ::geteuid());
  ASSERT_FALSE(t);
  EXPECT_NE(t.status().message().find("chmod 600"), std::string::npos) << t.status().message();
  auto other_owner = BearerTokens::load(readable, ::geteuid() + 1);
  ASSERT_FALSE(other_owner);
  EXPECT_NE(other_owner.status().message().find("owned by uid"), std::string::npos);
  struct Case {
    const char* text;
    const char* expected;
  } cases[] = {
      {"1000 short\n", "at least 16"},
      {"alice aaaaaaaaaaaaaaaaaaaa\n", "must be a number"},
      {"1000\n", "expected '<AID> <token>'"},
      {"1000 aaaaaaaaaaaaaaaaaaaa extra\n", "expected '<AID> <token>'"},
      {"1000 aaaaaaaaaaaaaaaaaaaa\n1001 aaaaaaaaaaaaaaaaaaaa\n", "already given to AID 1000"},
  };
  for (const auto& c : cases) {
    auto f = dir.write("bad", c.text);
    ::chmod(f.c_str(), 0600);
    auto r = BearerTokens::load(f, ::geteuid());
    ASSERT_FALSE(r) << c.text;
    EXPECT_NE(r.status().message().find(c.expected), std::string::npos) << c.text << ": " << r.status().message();
    EXPECT_NE(r.status().message().find(":"), std::string::npos);  // names the file and line
  }
  EXPECT_FALSE(BearerTokens::load(dir.path() / "missing", ::geteuid()));
}

TEST(HttpJson, StreamedPiecesNeverEndInsideAUtf8Character) {
  EXPECT_EQ(utf8_complete_prefix(""), 0u);
  EXPECT_EQ(utf8_complete_prefix("abc"), 3u);
  EXPECT_EQ(utf8_complete_prefix("a\xc3\xa9"), 3u);          // é whole
  EXPECT_EQ(utf8_complete_prefix("a\xc3"), 1u);               // é cut after its lead byte
  EXPECT_EQ(utf8_complete_prefix("a\xe2\x82"), 1u);          // € cut after two of three
  EXPECT_EQ(utf8_complete_prefix("a\xe2\x82\xac"), 4u);      // € whole
  EXPECT_EQ(utf8_complete_prefix("a\xf0\x9f\x98"), 1u);      // an emoji cut after three of four
  EXPECT_EQ(utf8_complete_prefix("\xff"), 1u);                // not UTF-8 at all: passed on, replaced later
  // Bytes that are not UTF-8 become U+FFFD in JSON text instead of throwing.
  EXPECT_EQ(json_text(Json{{"e", std::string("x\xffy")}}), "{\"e\":\"x\xef\xbf\xbdy\"}");
}

TEST(HttpConfig, StatusCodesMapToHttpStatuses) {
  EXPECT_EQ(http_status_for(MRT_CODE_OK), 200u);
  EXPECT_EQ(http_status_for(MRT_CODE_INVALID_ARGUMENT), 400u);
  EXPECT_EQ(http_status_for(MRT_CODE_UNAUTHENTICATED), 401u);
  EXPECT_EQ(http_status_for(MRT_CODE_PERMISSION_DENIED), 403u);
  EXPECT_EQ(http_status_for(MRT_CODE_NOT_FOUND), 404u);
  EXPECT_EQ(http_status_for(MRT_CODE_RESOURCE_EXHAUSTED), 429u);
  EXPECT_EQ(http_status_for(MRT_CODE_UNIMPLEMENTED), 501u);
  EXPECT_EQ(http_status_for(MRT_CODE_UNAVAILABLE), 503u);
  EXPECT_EQ(http_status_for(MRT_CODE_DEADLINE_EXCEEDED), 504u);
  EXPECT_EQ(http_status_for(MRT_CODE_INTERNAL), 500u);
}

// KServe shapes (REST and gRPC): a product of dims that wraps around 2^64
// is refused, not taken for an empty tensor ([2^32, 2^32] made 0).
TEST(GrpcInfer, ShapesWhoseProductWrapsAreRefused) {
  inference::ModelInferRequest r;
  r.set_model_name("m");
  auto* in = r.add_inputs();
  in->set_name("x");
  in->set_datatype("FP32");
  in->add_shape(int64_t{1} << 32);
  in->add_shape(int64_t{1} << 32);
  r.add_raw_input_contents("");
  auto f = grpc_infer_frame(r);
  ASSERT_FALSE(f);
  EXPECT_EQ(f.status().code(), MRT_CODE_INVALID_ARGUMENT) << f.status().to_string();
  in->clear_shape();
  in->add_shape(2);
  in->add_shape(2);
  r.set_raw_input_contents(0, std::string(16, '\0'));
  auto ok = grpc_infer_frame(r);
  ASSERT_TRUE(ok) << ok.status().to_string();
  EXPECT_EQ((*ok)->infer().tensors().tensors(0).inline_data().size(), 16u);
}

}  // namespace
}  // namespace mrt::vnode
