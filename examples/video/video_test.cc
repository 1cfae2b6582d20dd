// SPDX-License-Identifier: MIT
//
// The video example end to end: the real switchboardd on a temporary
// socket, video-server and slideshow as separate processes (small frames,
// to keep it quick). video-server announces its clip on
// video.events.clip_loaded at start and on LoadClip; PlayClip streams every
// frame of the clip and stops when the caller cancels; GetFrame still
// works; a clip plays over TCP too, its buffers copied inline; slideshow
// fails when no server runs, and starts it when an activation file names
// it. BrokerProcess and ChildProcess stop every process they started; the
// activated video-server is stopped by the test.
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "switchboard/client.h"
#include "switchboard/message.h"
#include "switchboard/v1/broker.pb.h"
#include "tests/testing/broker_process.h"
#include "tests/testing/child_process.h"
#include "tests/testing/clients.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/transport.h"
#include "tests/testing/wait_for.h"
#include "video.pb.h"

namespace switchboard::examples::video {
namespace {

using ::switchboard::testing::BrokerProcess;
using ::switchboard::testing::ChildProcess;
using ::switchboard::testing::ConnectOrDie;
using ::switchboard::testing::IsOk;
using ::switchboard::testing::IsOkAndHolds;
using ::switchboard::testing::ProgramResult;
using ::switchboard::testing::RunProgram;
using ::switchboard::testing::Transport;
using ::switchboard::testing::WaitFor;
using ::testing::HasSubstr;

constexpr absl::Duration kTimeout = absl::Seconds(30);

// Runs the programs against a broker whose clients use `transport`.
class VideoTestBase : public ::testing::Test {
 protected:
  explicit VideoTestBase(Transport transport) : broker_(transport) {}

  // `program` with --address, run through env(1) to set
  // SWITCHBOARD_TOKEN_FILE for TCP (env execs it: the pid stays the same).
  std::vector<std::string> Command(const std::string& program) const {
    std::vector<std::string> argv;
    if (broker_.transport() == Transport::kTcp) {
      argv = {"/usr/bin/env",
              absl::StrCat("SWITCHBOARD_TOKEN_FILE=", broker_.token_file())};
    }
    argv.push_back(program);
    argv.push_back(absl::StrCat("--address=", broker_.address()));
    return argv;
  }

  // Starts video-server with 64x48 frames and a 20-frame clip "first",
  // and `extra` flags.
  void StartServer(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv = Command(SWITCHBOARD_VIDEO_SERVER_PATH);
    argv.insert(argv.end(), {"--width=64", "--height=48", "--clip=first",
                             "--clip-frames=20", "--fps=100"});
    argv.insert(argv.end(), extra.begin(), extra.end());
    absl::StatusOr<ChildProcess> server = ChildProcess::Start(
        argv, absl::StrCat(broker_.dir(), "/video-server.stderr"));
    ASSERT_THAT(server, IsOk());
    server_.emplace(*std::move(server));
    ASSERT_THAT(server_->ReadLine(kTimeout),
                IsOkAndHolds(HasSubstr("video-server: serving video.frames")));
  }

  // Runs slideshow with `flags` to completion.
  ProgramResult RunSlideshow(std::vector<std::string> flags) {
    std::vector<std::string> argv = Command(SWITCHBOARD_SLIDESHOW_PATH);
    argv.insert(argv.end(), flags.begin(), flags.end());
    absl::StatusOr<ProgramResult> result = RunProgram(argv, kTimeout);
    EXPECT_THAT(result, IsOk());
    return result.ok() ? *result : ProgramResult{};
  }

  // The next line video-server prints that contains `text`, or "" if none
  // comes within kTimeout.
  std::string ServerLineContaining(absl::string_view text) {
    while (true) {
      absl::StatusOr<std::string> line = server_->ReadLine(kTimeout);
      if (!line.ok()) {
        ADD_FAILURE() << "video-server never printed \"" << text
                      << "\": " << line.status();
        return "";
      }
      if (absl::StrContains(*line, text)) return *line;
    }
  }

  // Stops video-server and expects exit 0.
  void StopServer() {
    EXPECT_THAT(server_->Signal(SIGTERM), IsOk());
    EXPECT_THAT(ServerLineContaining("video-server: stopping"),
                HasSubstr("PlayClip"));
    EXPECT_THAT(server_->Wait(kTimeout), IsOkAndHolds(0));
  }

  BrokerProcess broker_;
  std::optional<ChildProcess> server_;  // destroyed (killed) before broker_
};

class VideoTest : public VideoTestBase {
 protected:
  VideoTest() : VideoTestBase(Transport::kUnix) {}
};

class VideoTcpTest : public VideoTestBase {
 protected:
  VideoTcpTest() : VideoTestBase(Transport::kTcp) {}
};

TEST_F(VideoTest, TheServerAnnouncesItsClipWhenItStarts) {
  ASSERT_TRUE(broker_.started());
  std::unique_ptr<Client> watcher = ConnectOrDie(broker_, "watcher");
  absl::Mutex mutex;
  std::vector<ClipLoaded> clips;
  std::vector<std::string> topics;
  absl::StatusOr<Subscription> events =
      watcher->Subscribe("video.events.>", [&](const Message& message) {
        absl::StatusOr<ClipLoaded> clip = message.As<ClipLoaded>();
        absl::MutexLock lock(&mutex);
        topics.push_back(message.topic);
        if (clip.ok()) clips.push_back(*clip);
      });
  ASSERT_THAT(events, IsOk());
  StartServer();
  ASSERT_TRUE(WaitFor(
      [&] {
        absl::MutexLock lock(&mutex);
        return !clips.empty();
      },
      kTimeout));
  absl::MutexLock lock(&mutex);
  EXPECT_THAT(topics, ::testing::ElementsAre("video.events.clip_loaded"));
  EXPECT_EQ(clips[0].name(), "first");
  EXPECT_EQ(clips[0].frame_count(), 20u);
  EXPECT_EQ(clips[0].width(), 64u);
  EXPECT_EQ(clips[0].height(), 48u);
  EXPECT_EQ(clips[0].fps(), 100u);
}

TEST_F(VideoTest, SlideshowLoadsAClipSeesItsEventAndPlaysEveryFrame) {
  ASSERT_TRUE(broker_.started());
  StartServer();
  const ProgramResult played =
      RunSlideshow({"--load=second", "--clip-frames=12", "--fps=50", "--play",
                    "--window=2"});
  EXPECT_EQ(played.exit_code, 0) << played.stderr_text;
  EXPECT_THAT(played.stdout_text,
              HasSubstr("event on video.events.clip_loaded from :"));
  EXPECT_THAT(played.stdout_text,
              HasSubstr("clip second: 12 frames of 64x48 at 50 fps"));
  EXPECT_THAT(played.stdout_text,
              HasSubstr("played clip second, all 12 frames; 12 frames "
                        "received, 0 wrong"));
  EXPECT_THAT(played.stdout_text,
              HasSubstr("12 frames as file descriptors (12 sealed "
                        "immutable)"));
  EXPECT_THAT(ServerLineContaining("PlayClip for :"),
              HasSubstr("sent all 12 frames of second"));
  StopServer();
}

TEST_F(VideoTest, ACancelledPlayStopsTheServersStream) {
  ASSERT_TRUE(broker_.started());
  StartServer();
  const ProgramResult played =
      RunSlideshow({"--play", "--stop-after=3", "--window=1"});
  EXPECT_EQ(played.exit_code, 0) << played.stderr_text;
  EXPECT_THAT(played.stdout_text,
              HasSubstr("cancelled after 3 of 20 frames (--stop-after)"));
  // With a window of 1 the server is at most a frame or two ahead when the
  // cancel arrives; it must not have sent the whole clip.
  const std::string server_said = ServerLineContaining("PlayClip for :");
  EXPECT_THAT(server_said, HasSubstr("stopped after"));
  EXPECT_THAT(server_said, HasSubstr("CANCELLED"));
  StopServer();
}

TEST_F(VideoTest, GetFrameStillVerifiesEveryFrame) {
  ASSERT_TRUE(broker_.started());
  StartServer();
  const ProgramResult got = RunSlideshow({"--frames=5"});
  EXPECT_EQ(got.exit_code, 0) << got.stderr_text;
  EXPECT_THAT(got.stdout_text, HasSubstr("5 frames received, 0 wrong"));
  const ProgramResult inline_got = RunSlideshow({"--frames=3", "--inline"});
  EXPECT_EQ(inline_got.exit_code, 0) << inline_got.stderr_text;
  EXPECT_THAT(inline_got.stdout_text, HasSubstr("3 frames received, 0 wrong"));
  StopServer();
}

// video-server --allow-exe serves one program only, as the broker read it
// from the kernel when the caller connected.
TEST_F(VideoTest, OnlyTheAllowedExecutableIsServed) {
  ASSERT_TRUE(broker_.started());
  StartServer({"--allow-exe=/usr/bin/true"});
  const ProgramResult refused = RunSlideshow({"--frames=1"});
  EXPECT_EQ(refused.exit_code, 1) << refused.stderr_text;
  EXPECT_THAT(refused.stderr_text, HasSubstr("PERMISSION_DENIED"));
  EXPECT_THAT(refused.stderr_text,
              HasSubstr("video.frames serves /usr/bin/true only"));
  const ProgramResult not_played = RunSlideshow({"--play"});
  EXPECT_EQ(not_played.exit_code, 1) << not_played.stderr_text;
  EXPECT_THAT(not_played.stderr_text, HasSubstr("PERMISSION_DENIED"));
  StopServer();

  char resolved[PATH_MAX];
  ASSERT_NE(::realpath(SWITCHBOARD_SLIDESHOW_PATH, resolved), nullptr);
  StartServer({absl::StrCat("--allow-exe=", resolved)});
  const ProgramResult allowed = RunSlideshow({"--frames=2"});
  EXPECT_EQ(allowed.exit_code, 0) << allowed.stderr_text;
  EXPECT_THAT(allowed.stdout_text, HasSubstr("2 frames received, 0 wrong"));
  const ProgramResult played = RunSlideshow({"--play"});
  EXPECT_EQ(played.exit_code, 0) << played.stderr_text;
  EXPECT_THAT(played.stdout_text, HasSubstr("all 20 frames"));
  StopServer();
}

TEST_F(VideoTest, SlideshowFailsWithoutAServer) {
  ASSERT_TRUE(broker_.started());
  const ProgramResult played = RunSlideshow({"--play"});
  EXPECT_EQ(played.exit_code, 1);
  EXPECT_THAT(played.stderr_text, HasSubstr("NOT_FOUND"));
  const ProgramResult loaded = RunSlideshow({"--load=x"});
  EXPECT_EQ(loaded.exit_code, 1);
  EXPECT_THAT(loaded.stderr_text, HasSubstr("is video-server running?"));
}

// Over TCP the broker knows no caller process, so a server that serves one
// executable serves nobody there.
TEST_F(VideoTcpTest, AnAllowedExecutableCannotBeVerifiedOverTcp) {
  ASSERT_TRUE(broker_.started());
  StartServer({"--allow-exe=/usr/bin/true"});
  const ProgramResult refused = RunSlideshow({"--frames=1"});
  EXPECT_EQ(refused.exit_code, 1) << refused.stderr_text;
  EXPECT_THAT(refused.stderr_text, HasSubstr("could not verify which program"));
  StopServer();
}

// TCP carries no descriptors: the library copies each frame's buffer into
// the stream message, and the slideshow still finds it in buffer 0.
TEST_F(VideoTcpTest, AClipPlaysOverTcpWithTheBuffersCopiedInline) {
  ASSERT_TRUE(broker_.started());
  StartServer();
  const ProgramResult played = RunSlideshow({"--play", "--window=3"});
  EXPECT_EQ(played.exit_code, 0) << played.stderr_text;
  EXPECT_THAT(played.stdout_text,
              HasSubstr("played clip first, all 20 frames; 20 frames "
                        "received, 0 wrong"));
  EXPECT_THAT(played.stdout_text,
              HasSubstr("0 frames as file descriptors (0 sealed immutable), "
                        "20 copied inline by the library"));
  EXPECT_THAT(ServerLineContaining("PlayClip for :"),
              HasSubstr("sent all 20 frames of first"));
  StopServer();
}

// The broker is killed while a clip plays and a new one starts on the same
// socket: video-server and slideshow reconnect by themselves, and the
// slideshow resumes at the frame it had reached, reporting the gap.
TEST(VideoRestartTest, PlayingGoesOnAcrossABrokerRestart) {
  testing::TempDir dir("switchboard-video-restart");
  testing::BrokerOptions broker_options;
  broker_options.dir = dir.path();
  auto broker = std::make_unique<BrokerProcess>(broker_options);
  ASSERT_TRUE(broker->started());
  const std::string address = broker->address();
  absl::StatusOr<ChildProcess> server = ChildProcess::Start(
      {SWITCHBOARD_VIDEO_SERVER_PATH, absl::StrCat("--address=", address),
       "--width=64", "--height=48", "--clip=long", "--clip-frames=100",
       "--fps=25"},
      absl::StrCat(dir.path(), "/video-server.stderr"));
  ASSERT_THAT(server, IsOk());
  ASSERT_THAT(server->ReadLine(kTimeout),
              IsOkAndHolds(HasSubstr("video-server: serving video.frames")));
  absl::StatusOr<ChildProcess> slideshow = ChildProcess::Start(
      {SWITCHBOARD_SLIDESHOW_PATH, absl::StrCat("--address=", address),
       "--play", "--realtime", "--window=1", "--verbose"},
      absl::StrCat(dir.path(), "/slideshow.stderr"));
  ASSERT_THAT(slideshow, IsOk());
  std::string output;
  // Reads slideshow's lines until one contains `text`.
  auto read_until = [&](absl::string_view text) {
    while (true) {
      absl::StatusOr<std::string> line = slideshow->ReadLine(kTimeout);
      if (!line.ok()) return false;
      absl::StrAppend(&output, *line, "\n");
      if (absl::StrContains(*line, text)) return true;
    }
  };
  ASSERT_TRUE(read_until("frame 10 of 100")) << output;

  ASSERT_THAT(broker->Stop(SIGKILL),
              testing::StatusIs(absl::StatusCode::kAborted));
  broker.reset();
  broker = std::make_unique<BrokerProcess>(broker_options);
  ASSERT_TRUE(broker->started());

  ASSERT_THAT(slideshow->Wait(kTimeout), IsOkAndHolds(0)) << output;
  while (true) {  // the rest of its output
    absl::StatusOr<std::string> line = slideshow->ReadLine(kTimeout);
    if (!line.ok()) break;
    absl::StrAppend(&output, *line, "\n");
  }
  EXPECT_THAT(output, HasSubstr("slideshow: the stream broke at frame"));
  EXPECT_THAT(output, HasSubstr("slideshow: resuming at frame"));
  EXPECT_THAT(output, HasSubstr("played clip long, all 100 frames, resumed 1 "
                                "time after a broken stream; 100 frames "
                                "received, 0 wrong"));
  EXPECT_THAT(server->Signal(SIGTERM), IsOk());
  EXPECT_THAT(server->Wait(kTimeout), IsOkAndHolds(0));
}

TEST(SlideshowUsageTest, ContradictoryFlagsAreUsageErrors) {
  for (const std::vector<std::string>& argv :
       std::vector<std::vector<std::string>>{
           {SWITCHBOARD_SLIDESHOW_PATH, "--play", "--watch"},
           {SWITCHBOARD_SLIDESHOW_PATH, "--play", "--inline"},
           {SWITCHBOARD_SLIDESHOW_PATH, "--stop-after=3"},
           {SWITCHBOARD_SLIDESHOW_PATH, "--clip-frames=3"},
           {SWITCHBOARD_SLIDESHOW_PATH, "--play", "--window=0"}}) {
    absl::StatusOr<ProgramResult> result = RunProgram(argv, kTimeout);
    ASSERT_THAT(result, IsOk());
    EXPECT_EQ(result->exit_code, 2) << argv[1];
    EXPECT_THAT(result->stderr_text, HasSubstr("see --help")) << argv[1];
  }
}

// slideshow alone: the broker starts video-server from an activation file
// like the shipped examples/video/video.frames.activation, naming the
// built program (with small frames).
class VideoActivationTest : public ::testing::Test {
 protected:
  VideoActivationTest()
      : dir_(WriteServices(temp_.path())), broker_(Options(dir_)) {}
  ~VideoActivationTest() override { StopActivatedServer(); }

  // Writes DIR/services/video.frames.activation; returns `dir`.
  static std::string WriteServices(const std::string& dir) {
    ::mkdir((dir + "/services").c_str(), 0700);
    std::ofstream(dir + "/services/video.frames.activation")
        << "name: \"video.frames\"\n"
        << "command {\n"
        << "  argv: \"" << SWITCHBOARD_VIDEO_SERVER_PATH << "\"\n"
        << "  argv: \"--width=64\"\n  argv: \"--height=48\"\n"
        << "  argv: \"--clip=first\"\n  argv: \"--clip-frames=20\"\n"
        << "}\n";
    return dir;
  }
  static testing::BrokerOptions Options(const std::string& dir) {
    testing::BrokerOptions options;
    options.dir = dir;
    options.flags = {absl::StrCat("--activation-dir=", dir, "/services")};
    return options;
  }

  // The pid of video.frames' owner, from the broker; 0 if none.
  uint32_t ServerPid() {
    std::unique_ptr<Client> client = ConnectOrDie(broker_, "observer");
    absl::StatusOr<v1::NameList> names = client->Call<v1::NameList>(
        "switchboard.Broker", "ListNames", v1::ListNamesRequest());
    if (!names.ok()) return 0;
    for (const v1::NameInfo& name : names->names()) {
      if (name.name() == "video.frames") return name.pid();
    }
    return 0;
  }

  // The broker leaves what it started running: stop it while the broker
  // still runs to reap it.
  void StopActivatedServer() {
    const pid_t pid = static_cast<pid_t>(ServerPid());
    if (pid == 0) return;
    ::kill(pid, SIGTERM);
    EXPECT_TRUE(WaitFor([pid] { return ::kill(pid, 0) != 0 && errno == ESRCH; },
                        kTimeout));
  }

  testing::TempDir temp_{"sb-video"};  // outlives the broker that runs in it
  std::string dir_;
  BrokerProcess broker_;
};

TEST_F(VideoActivationTest, SlideshowAloneStartsVideoServer) {
  ASSERT_TRUE(broker_.started());
  const std::vector<std::string> argv = {
      SWITCHBOARD_SLIDESHOW_PATH, absl::StrCat("--address=", broker_.address()),
      "--frames=5"};
  absl::StatusOr<ProgramResult> got = RunProgram(argv, kTimeout);
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ(got->exit_code, 0) << got->stderr_text << broker_.ReadStderr();
  EXPECT_THAT(got->stdout_text, HasSubstr("5 frames received, 0 wrong"));
  EXPECT_THAT(broker_.ReadStderr(),
              HasSubstr(absl::StrCat("activating video.frames: started ",
                                     SWITCHBOARD_VIDEO_SERVER_PATH)));
  EXPECT_NE(ServerPid(), 0u);
}

}  // namespace
}  // namespace switchboard::examples::video
