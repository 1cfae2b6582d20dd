// SPDX-License-Identifier: MIT
//
// The public Client forwards to Client::Impl (client_impl.h), which owns the
// connection and the dispatch thread.
#include "switchboard/client.h"

#include <utility>

#include "client/src/async_call.h"
#include "client/src/client_impl.h"
#include "client/src/handle_link.h"
#include "client/src/handshake.h"
#include "switchboard/status_macros.h"

namespace switchboard {

absl::StatusOr<std::unique_ptr<Client>> Client::Connect(
    absl::string_view address, const ConnectOptions& options) {
  SB_ASSIGN_OR_RETURN(client::Handshake handshake,
                      client::ConnectAndGreet(address, options));
  auto impl = std::make_unique<Impl>(std::move(handshake), options);
  SB_RETURN_IF_ERROR(impl->Start());
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

Client::Client(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)),
      link_(std::make_shared<client::HandleLink>(impl_.get())) {}

Client::~Client() {
  // Handles that outlive the Client find it gone; one that unsubscribes or
  // cancels right now finishes first, while the connection still exists.
  link_->Detach();
}

uint64_t Client::connection_id() const { return impl_->connection_id(); }
const std::string& Client::address() const { return impl_->address(); }
uint64_t Client::max_payload_bytes() const {
  return impl_->max_payload_bytes();
}
bool Client::connected() const { return impl_->connected(); }
void Client::OnConnectionChange(ConnectionCallback callback) {
  impl_->OnConnectionChange(std::move(callback));
}
int Client::fd() const { return impl_->fd(); }
absl::Duration Client::ProcessTimeout() const {
  return impl_->ProcessTimeout();
}
absl::Status Client::Process() { return impl_->Process(); }

absl::StatusOr<NameState> Client::Serve(Service service,
                                        const ServeOptions& options) {
  return impl_->Serve(std::move(service), options);
}

absl::Status Client::Release(absl::string_view name) {
  return impl_->Release(name);
}

void Client::OnNameChange(NameCallback callback) {
  impl_->OnNameChange(std::move(callback));
}

absl::StatusOr<uint64_t> Client::WaitForService(
    absl::string_view name, absl::Duration timeout,
    const WaitForServiceOptions& options) {
  return impl_->WaitForService(name, timeout, options);
}

absl::StatusOr<Subscription> Client::WatchName(absl::string_view name,
                                               NameOwnerCallback callback) {
  SB_ASSIGN_OR_RETURN(const uint64_t id,
                      impl_->WatchName(name, std::move(callback), nullptr));
  return Subscription(link_, id);
}

absl::StatusOr<Payload> Client::Call(absl::string_view service,
                                     absl::string_view method, Payload request,
                                     absl::Duration timeout) {
  return impl_->Call(service, method, std::move(request), "", timeout);
}

absl::StatusOr<Payload> Client::CallWithType(absl::string_view service,
                                             absl::string_view method,
                                             Payload request,
                                             absl::string_view request_type,
                                             absl::Duration timeout) {
  return impl_->Call(service, method, std::move(request), request_type,
                     timeout);
}

PendingCall Client::CallAsync(absl::string_view service,
                              absl::string_view method, Payload request,
                              absl::Duration timeout, CallCallback done) {
  auto call = std::make_shared<client::AsyncCall>(std::move(done));
  if (!impl_->CallAsync(service, method, std::move(request), timeout,
                        client::AsyncCallCallback{call})) {
    return PendingCall();  // the callback got the error
  }
  return PendingCall(link_, std::move(call));
}

absl::Status Client::Ping(absl::Duration timeout) {
  return impl_->Ping(timeout);
}

absl::StatusOr<v1::Identity> Client::GetIdentity(uint64_t connection_id,
                                                 absl::Duration timeout) {
  return impl_->GetIdentity(connection_id, timeout);
}

absl::StatusOr<std::unique_ptr<ReplyStream>> Client::CallStream(
    absl::string_view service, absl::string_view method, Payload request,
    const StreamOptions& options) {
  return impl_->CallStream(service, method, std::move(request), "", options);
}

absl::StatusOr<std::unique_ptr<ReplyStream>> Client::CallStream(
    absl::string_view service, absl::string_view method,
    const google::protobuf::Message& request, const StreamOptions& options) {
  return impl_->CallStream(service, method,
                           Payload(request.SerializeAsString()),
                           request.GetTypeName(), options);
}

absl::Status Client::Publish(absl::string_view topic, Payload message,
                             absl::string_view message_type,
                             absl::Duration timeout) {
  return impl_->Publish(topic, std::move(message), message_type, timeout);
}

absl::Status Client::Publish(absl::string_view topic,
                             const google::protobuf::Message& message,
                             absl::Duration timeout) {
  impl_->RegisterPublishedType(message.GetDescriptor());
  return impl_->Publish(topic, Payload(message.SerializeAsString()),
                        message.GetTypeName(), timeout);
}

absl::StatusOr<PublishResult> Client::PublishConfirmed(
    absl::string_view topic, Payload message, absl::string_view message_type,
    absl::Duration timeout) {
  return impl_->PublishConfirmed(topic, std::move(message), message_type,
                                 timeout);
}

absl::StatusOr<PublishResult> Client::PublishConfirmed(
    absl::string_view topic, const google::protobuf::Message& message,
    absl::Duration timeout) {
  impl_->RegisterPublishedType(message.GetDescriptor());
  return impl_->PublishConfirmed(topic, Payload(message.SerializeAsString()),
                                 message.GetTypeName(), timeout);
}

absl::StatusOr<Subscription> Client::Subscribe(
    absl::string_view pattern, MessageCallback on_message,
    const SubscribeOptions& options) {
  SB_ASSIGN_OR_RETURN(
      const uint64_t id,
      impl_->Subscribe(pattern, std::move(on_message), options));
  return Subscription(link_, id);
}

absl::Status Client::Unsubscribe(uint64_t subscription) {
  return impl_->Unsubscribe(subscription);
}

absl::StatusOr<SubscriptionStats> Client::GetSubscriptionStats(
    uint64_t subscription) const {
  return impl_->GetSubscriptionStats(subscription);
}

}  // namespace switchboard
