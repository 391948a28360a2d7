// The access policy, one test per row of docs/service.md's "Who may do
// what" table. The expectations are written out here, independently of the
// table in access_policy.cpp, so a change to either shows up.
#include "access_policy.h"

#include <gtest/gtest.h>

namespace mrt::vnode {
namespace {

struct Expected {
  RequestKind kind;
  Target target;
  bool owner, other_user, admin;
};

class AccessPolicyRow : public ::testing::TestWithParam<Expected> {};

TEST_P(AccessPolicyRow, AllowsExactlyTheRolesTheDocsList) {
  const Expected& e = GetParam();
  for (auto [role, allowed] : {std::pair{Role::kOwner, e.owner}, std::pair{Role::kOtherUser, e.other_user},
                               std::pair{Role::kAdmin, e.admin}}) {
    Status s = authorize(e.kind, e.target, role);
    EXPECT_EQ(s.is_ok(), allowed) << request_kind_name(e.kind) << " role " << static_cast<int>(role);
    if (!allowed) {
      EXPECT_EQ(s.code(), MRT_CODE_PERMISSION_DENIED);
      EXPECT_NE(s.message().find(std::string(request_kind_name(e.kind))), std::string::npos) << s.message();
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Docs, AccessPolicyRow,
    ::testing::Values(Expected{RequestKind::kInfer, Target::kSystemModel, false, true, true},
                      Expected{RequestKind::kInfer, Target::kUserModel, true, false, false},
                      Expected{RequestKind::kModelStatus, Target::kSystemModel, false, true, true},
                      Expected{RequestKind::kModelStatus, Target::kUserModel, true, false, false},
                      Expected{RequestKind::kLoad, Target::kSystemModel, false, false, true},
                      Expected{RequestKind::kLoad, Target::kUserModel, true, false, false},
                      Expected{RequestKind::kUnload, Target::kSystemModel, false, false, true},
                      Expected{RequestKind::kUnload, Target::kUserModel, true, false, false},
                      Expected{RequestKind::kPush, Target::kSystemModel, false, false, false},
                      Expected{RequestKind::kPush, Target::kUserModel, true, false, false},
                      Expected{RequestKind::kRemove, Target::kSystemModel, false, false, false},
                      Expected{RequestKind::kRemove, Target::kUserModel, true, false, false},
                      Expected{RequestKind::kListModels, Target::kService, false, true, true},
                      Expected{RequestKind::kHealth, Target::kService, false, true, true},
                      Expected{RequestKind::kMetrics, Target::kService, false, true, true},
                      Expected{RequestKind::kCancel, Target::kService, false, true, true},
                      Expected{RequestKind::kEnablePlugin, Target::kService, false, false, true}),
    [](const ::testing::TestParamInfo<Expected>& row) {
      const char* target = row.param.target == Target::kSystemModel ? "System"
                           : row.param.target == Target::kUserModel ? "User"
                                                                      : "Service";
      return std::string(request_kind_name(row.param.kind)) + "_" + target;
    });

TEST(AccessPolicy, TheTableHasNoRowTheTestsMiss) {
  EXPECT_EQ(policy_table().size(), 17u);
}

TEST(AccessPolicy, UnloadOfASystemModelNamesWhatItNeeds) {
  Status s = authorize(RequestKind::kUnload, Target::kSystemModel, Role::kOtherUser);
  EXPECT_NE(s.message().find("admin"), std::string::npos) << s.message();
}

TEST(AccessPolicy, NobodyWritesTheSystemRepositoryOverIpc) {
  for (RequestKind kind : {RequestKind::kPush, RequestKind::kRemove}) {
    Status s = authorize(kind, Target::kSystemModel, Role::kAdmin);
    EXPECT_EQ(s.code(), MRT_CODE_PERMISSION_DENIED);
    EXPECT_NE(s.message().find("/models is read-only"), std::string::npos) << s.message();
  }
}

}  // namespace
}  // namespace mrt::vnode
