%%% mod_xmpp_maildir: copy messages to the xmpp-maildir component, which stores them as mail.
%%%
%%%   modules:
%%%     mod_xmpp_maildir:
%%%       component: "archive.example.org"
%%%
%%% What is copied (docs/protocol.md, the same as server/prosody/mod_xmpp_maildir.lua):
%%%   * every message that mod_offline really stored (type chat or normal), reason "offline";
%%%   * every normal or typeless message delivered to an online user, reason "normal".
%%% With `chat_history: true` (run the component with --chat-history; docs/chat-history.md):
%%%   * every chat delivered live to a local user, reason "chat";
%%%   * every chat a local user sends (to anyone), reason "sent", including receipts, markers and
%%%     retractions without a body, which flag or annotate the archived original.
%%% With `groupchat: true` (component --groupchat):
%%%   * every groupchat message a room delivers to a local occupant, once per user however many
%%%     resources are joined, reason "groupchat".
%%% Never copied: headlines, errors, anything to or from the component (no loops); what ejabberd
%%% routes to a user on its own behalf (carbons, mod_offline's redelivery at login, MAM query
%%% results), which Prosody hands to the session without routing; and chat-history copies of
%%% messages that ask not to be stored (XEP-0334 <no-store/>, <no-permanent-store/>).
%%% Nothing here changes delivery: mod_offline still stores, and online users still receive.
%%%
%%% Delivery to the component is at-least-once. Each copy is written to a Mnesia disc_copies
%%% table (xmpp_maildir_outbox) and the transaction log is synced before it is sent; it is deleted
%%% only when the component answers with an IQ result, which it sends once the mail is durably in
%%% the Maildir. Unconfirmed copies are sent again in order when the component (re)connects, after
%%% a `wait` error (with backoff), after a timeout, and when ejabberd restarts. The component drops
%%% repeats by the copy's id.
-module(mod_xmpp_maildir).
-behaviour(gen_mod).
-behaviour(gen_server).

%% gen_mod
-export([start/2, stop/1, reload/3, depends/2, mod_opt_type/1, mod_options/1, mod_doc/0]).
%% gen_server
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2, code_change/3]).
%% hooks
-export([offline_message/1, sm_receive_packet/1, user_send_packet/1, filter_packet/1,
         component_connected/1, component_disconnected/2]).

-include("logger.hrl").
%% Plain includes: Debian ships p1_xmpp-<vsn>/include, which include_lib("xmpp/...") cannot find
%% (code:lib_dir(xmpp) is bad_name there); ejabberd's module_install and our build script both
%% put the xmpp and ejabberd include dirs on the include path.
-include("xmpp.hrl").

-define(NS_COPY, <<"urn:xmpp-maildir:copy:0">>).
-define(TABLE, xmpp_maildir_outbox).
%% Copy ids start with this, so the reply filter below can skip every other IQ at a glance.
-define(ID_PREFIX, "xmd-").
-define(ID_RANDOM_CHARS, 16).

%% offline_message_hook is a fold: mod_mam archives at 49, mod_offline stores at 50 and returns
%% {offlined, Msg}, mod_push notifies at 55, and ejabberd_sm bounces what nobody stored at 100.
%% Between 55 and 100 we see exactly the messages mod_offline stored.
-define(OFFLINE_HOOK_PRIORITY, 60).
%% After mod_mam (50) has put its stanza-id on the message, so the copy carries it too.
-define(SM_HOOK_PRIORITY, 60).
%% What a user sends: after mod_mam (88) and mod_carboncopy; ejabberd_c2s runs the privacy check
%% after this hook, so the hook asks it itself (a blocked message is not copied).
-define(SEND_HOOK_PRIORITY, 90).
%% Room deliveries remembered to copy each room message once per user (as the Prosody module).
-define(GROUPCHAT_MEMORY, 1000).
-define(GLOBAL_HOOK_PRIORITY, 50).
%% Give the component a moment to connect after a server start before the first attempt; the
%% backoff takes over from there (as in the Prosody module).
-define(FIRST_PUMP_MS, 1000).
%% How long to wait for Mnesia to load the outbox table at start: it is small (unconfirmed copies).
-define(TABLE_WAIT_MS, 60000).
%% An fsync takes milliseconds; a sender waiting this long means the disk is gone. The copy is then
%% sent anyway (and logged), as when the write itself fails.
-define(SYNC_TIMEOUT_MS, 60000).

%% What the component answers when a copy can never be stored (docs/protocol.md, "A refusal"):
%% resending cannot help, so the copy is dropped. Other cancel/modify errors on a copy come from
%% ejabberd's routing (no route to the component: remote-server-not-found/-timeout,
%% service-unavailable) and are retried like `wait`.
-define(REFUSALS, ['not-allowed', 'bad-request', 'jid-malformed', 'policy-violation',
                   'internal-server-error']).

-define(XMD_NS_HINTS, <<"urn:xmpp:hints">>).
-define(XMD_NS_CARBONS, <<"urn:xmpp:carbons:2">>).
-define(XMD_NS_RECEIPTS, <<"urn:xmpp:receipts">>).
-define(XMD_NS_MARKERS, <<"urn:xmpp:chat-markers:0">>).
-define(XMD_NS_SID, <<"urn:xmpp:sid:0">>).

-type seq() :: {integer(), integer()}.

-record(xmpp_maildir_outbox, {id :: binary(), host :: binary(), seq :: seq(), copy :: fxml:xmlel()}).

-record(state, {host :: binary(),
                component :: binary(),
                window :: pos_integer(),
                confirm_timeout :: pos_integer(),
                retry_min :: pos_integer(),
                retry_max :: pos_integer(),
                retry_delay :: pos_integer(),
                %% id -> {seq, copy element}: every unconfirmed copy
                pending = #{} :: #{binary() => {seq(), fxml:xmlel()}},
                %% copies waiting to be sent, oldest first
                queue = gb_sets:empty() :: gb_sets:set({seq(), binary()}),
                %% id -> confirmation timer of the copies sent and not yet confirmed
                inflight = #{} :: #{binary() => reference()},
                paused = false :: boolean(),
                retry_timer :: reference() | undefined}).

%%%===================================================================
%%% gen_mod
%%%===================================================================
start(Host, Opts) ->
    case create_table() of
        ok -> gen_mod:start_child(?MODULE, Host, Opts);
        {error, _} = Err -> Err
    end.

stop(Host) ->
    gen_mod:stop_child(?MODULE, Host).

reload(Host, NewOpts, _OldOpts) ->
    gen_server:cast(gen_mod:get_module_proc(Host, ?MODULE), {reload, NewOpts}).

depends(_Host, _Opts) ->
    [{mod_offline, soft}].

mod_opt_type(component) -> econf:domain();
mod_opt_type(window) -> econf:pos_int();
mod_opt_type(confirm_timeout) -> econf:timeout(second);
mod_opt_type(retry_min) -> econf:timeout(second);
mod_opt_type(retry_max) -> econf:timeout(second);
mod_opt_type(chat_history) -> econf:bool();
mod_opt_type(groupchat) -> econf:bool().

mod_options(_Host) ->
    [component,
     %% Copies sent and not yet confirmed, at most: keeps a reconnect with a long backlog from
     %% flooding the component, which would only answer `wait` to the excess.
     {window, 64},
     %% How long to wait for a confirmation before sending the copy again (the component dedupes).
     {confirm_timeout, timer:seconds(30)},
     %% Backoff after a `wait` error or an unreachable component: doubling, capped.
     {retry_min, timer:seconds(1)},
     {retry_max, timer:seconds(60)},
     %% Chat history: the module cannot know how the component is configured, so it is told here
     %% too. If only the module has it on, the component confirms these copies and stores nothing.
     {chat_history, false},
     {groupchat, false}].

mod_doc() ->
    #{desc => [<<"Copies offline and normal messages to the xmpp-maildir component "
                 "(urn:xmpp-maildir:copy:0), with a durable outbox and ordered resends.">>],
      opts => [{component, #{value => <<"Domain">>, desc => <<"The component's domain.">>}},
               {window, #{value => <<"Number">>, desc => <<"Unconfirmed copies at most.">>}},
               {confirm_timeout, #{value => <<"timeout()">>, desc => <<"Resend after this.">>}},
               {retry_min, #{value => <<"timeout()">>, desc => <<"First backoff.">>}},
               {retry_max, #{value => <<"timeout()">>, desc => <<"Longest backoff.">>}},
               {chat_history, #{value => <<"true | false">>, desc => <<"Copy chats received live and sent.">>}},
               {groupchat, #{value => <<"true | false">>, desc => <<"Copy room messages to local occupants.">>}}]}.

%%%===================================================================
%%% Hooks (run in the routing process: the sender's session, the component's connection)
%%%===================================================================

%% Messages mod_offline stored. Any other accumulator ({bounce, _}, {archived, _} when only
%% mod_mam took it, or a `stop` from a failed store, which ends the fold before us) is not ours.
-spec offline_message({any(), message()}) -> {any(), message()}.
offline_message({offlined, #message{type = Type, to = #jid{lserver = Host}} = Msg} = Acc)
  when Type == chat; Type == normal ->
    Component = component(Host),
    case copyable(Msg, Component) of
        true -> send_copy(Host, Msg, <<"offline">>);
        false -> ok
    end,
    Acc;
offline_message(Acc) ->
    Acc.

%% Every stanza ejabberd_sm routes to a local user passes here, before delivery. A message is
%% delivered live exactly when ejabberd_sm:route_message/1 would find a session for it: the
%% addressed full JID exists, or some resource has a priority >= 0. Otherwise it goes to
%% offline_message_hook (and is copied above, if mod_offline stores it).
-spec sm_receive_packet(stanza() | drop) -> stanza() | drop.
sm_receive_packet(#message{type = Type, to = #jid{lserver = Host} = To} = Msg)
  when Type == normal; Type == chat; Type == groupchat ->
    Component = component(Host),
    case copyable(Msg, Component) andalso not routed_by_server(Msg) of
        true -> live_copy(Type, Host, Component, To, Msg);
        false -> ok
    end,
    Msg;
sm_receive_packet(Acc) ->
    Acc.

live_copy(normal, Host, _Component, To, Msg) ->
    case online(To) of
        true -> send_copy(Host, Msg, <<"normal">>);
        false -> ok
    end;
live_copy(chat, Host, Component, To, Msg) ->
    case opt(Host, chat_history) andalso chat_copyable(Msg, Component)
        andalso worth_archiving(Msg, false) andalso online(To) of
        true -> send_copy(Host, Msg, <<"chat">>);
        false -> ok
    end;
live_copy(groupchat, Host, Component, #jid{luser = U, lserver = S, lresource = R}, Msg) ->
    %% XEP-0045 §7.4: the room sends each message from room@service/nick to every occupant's
    %% full JID; this is the copy for this (local) occupant, once per user.
    case opt(Host, groupchat) andalso R /= <<>> andalso Msg#message.body /= []
        andalso ejabberd_sm:get_session_pid(U, S, R) /= none
        andalso chat_copyable(Msg, Component) andalso first_groupchat_delivery(Host, Msg) of
        true -> send_copy(Host, Msg, <<"groupchat">>);
        false -> ok
    end.

%% What a local user sends: a chat to anyone, reason "sent" (chat history only).
-spec user_send_packet({stanza() | drop, ejabberd_c2s:state()}) -> {stanza() | drop, ejabberd_c2s:state()}.
user_send_packet({#message{type = chat, to = #jid{}, from = #jid{lserver = Host}} = Msg, State} = Acc) ->
    Component = component(Host),
    case opt(Host, chat_history) andalso chat_copyable(Msg, Component)
        andalso worth_archiving(Msg, true) andalso privacy_allows(Host, State, Msg) of
        true -> send_copy(Host, Msg, <<"sent">>);
        false -> ok
    end,
    Acc;
user_send_packet(Acc) ->
    Acc.

%% The component's answers to our copies. ejabberd_local drops IQ results and errors addressed to
%% the server itself, so we take ours out of the router first (filter_packet is global).
-spec filter_packet(stanza() | drop) -> stanza() | drop.
filter_packet(#iq{type = Type, id = <<?ID_PREFIX, _/binary>> = Id,
                  from = #jid{luser = <<>>, lresource = <<>>, lserver = From},
                  to = #jid{luser = <<>>, lserver = Host}} = IQ)
  when Type == result; Type == error ->
    case gen_mod:is_loaded(Host, ?MODULE) andalso component(Host) == From of
        true ->
            gen_server:cast(proc(Host), {reply, Id, reply(IQ)}),
            drop;
        false ->
            IQ
    end;
filter_packet(Acc) ->
    Acc.

-spec component_connected(binary()) -> ok.
component_connected(Domain) ->
    notify_hosts(Domain, component_connected).

-spec component_disconnected(binary(), any()) -> ok.
component_disconnected(Domain, _Reason) ->
    notify_hosts(Domain, component_disconnected).

%%%===================================================================
%%% gen_server
%%%===================================================================
init([Host | _]) ->
    process_flag(trap_exit, true),
    Opts = gen_mod:get_module_opts(Host, ?MODULE),
    State0 = apply_opts(#state{host = Host}, Opts),
    State = load_outbox(State0#state{retry_delay = State0#state.retry_min}),
    start_syncer(Host),
    {Keys, Order} = groupchat_tables(Host),
    ets:new(Keys, [named_table, public, set]),
    ets:new(Order, [named_table, public, ordered_set]),
    add_hooks(Host),
    erlang:send_after(?FIRST_PUMP_MS, self(), pump),
    ?INFO_MSG("Copying offline and normal messages~ts~ts to ~ts",
              [case opt(Host, chat_history) of true -> ", chats (received and sent)"; false -> "" end,
               case opt(Host, groupchat) of true -> ", group chat"; false -> "" end,
               State#state.component]),
    {ok, State}.

handle_call(_Request, _From, State) ->
    {reply, {error, badarg}, State}.

handle_cast({copy, Id, Seq, Copy}, State) ->
    {noreply, pump(enqueue(Id, Seq, Copy, State))};
handle_cast({reply, Id, Reply}, #state{pending = Pending} = State) ->
    case maps:is_key(Id, Pending) of
        true -> {noreply, handle_reply(Id, Reply, State)};
        false -> {noreply, State}
    end;
handle_cast(component_connected, State) ->
    {noreply, resume("component connected", State)};
handle_cast(component_disconnected, #state{component = Component} = State) ->
    %% Copies in flight on the connection that went away are lost with it. If no connection is
    %% left, take them all back now; if others remain, those copies may be in flight there, so
    %% leave each to its own answer or confirmation timeout.
    case ejabberd_router:is_my_route(Component) of
        true -> {noreply, State};
        false -> {noreply, pause_and_retry("component disconnected", requeue(maps:keys(State#state.inflight), State))}
    end;
handle_cast({reload, Opts}, State) ->
    {noreply, pump(apply_opts(State, Opts))};
handle_cast(Msg, State) ->
    ?WARNING_MSG("Unexpected cast: ~p", [Msg]),
    {noreply, State}.

handle_info(pump, State) ->
    {noreply, pump(State)};
handle_info({timeout, Ref, retry}, #state{retry_timer = Ref} = State) ->
    {noreply, pump(State#state{paused = false, retry_timer = undefined})};
handle_info({timeout, Ref, {confirm, Id}}, #state{inflight = Inflight, confirm_timeout = T} = State) ->
    case maps:find(Id, Inflight) of
        {ok, Ref} ->
            ?WARNING_MSG("Copy ~ts not confirmed within ~Bs", [Id, T div 1000]),
            {noreply, pause_and_retry("confirmation timed out", requeue([Id], State))};
        _ ->
            {noreply, State}
    end;
handle_info({timeout, _StaleRef, _}, State) ->
    {noreply, State};
handle_info({'EXIT', _Pid, _Why} = Exit, #state{host = Host} = State) ->
    %% The syncer is linked to us; should it ever die, senders fall back to syncing themselves
    %% until it is back.
    case whereis(syncer_name(Host)) of
        undefined ->
            ?WARNING_MSG("Outbox syncer stopped (~p); restarting it", [Exit]),
            start_syncer(Host);
        _ ->
            ok
    end,
    {noreply, State};
handle_info(Info, State) ->
    ?WARNING_MSG("Unexpected info: ~p", [Info]),
    {noreply, State}.

terminate(_Reason, #state{host = Host}) ->
    %% Unconfirmed copies stay in the table and are sent again when the module starts.
    remove_hooks(Host),
    case whereis(syncer_name(Host)) of
        undefined -> ok;
        Pid -> unlink(Pid), exit(Pid, kill)
    end.

code_change(_OldVsn, State, _Extra) ->
    {ok, State}.

%%%===================================================================
%%% Making copies
%%%===================================================================
-spec copyable(message(), binary()) -> boolean().
copyable(#message{from = From, to = To}, Component) ->
    host_of(From) /= Component andalso host_of(To) /= Component.

host_of(#jid{lserver = S}) -> S;
host_of(_) -> undefined.

%% Messages ejabberd routes to a user on its own behalf, each a copy or a replay of a message that
%% was (or was not) archived when it first arrived: carbons (mod_carboncopy routes them), stored
%% messages re-sent at login or by XEP-0013 (mod_offline marks them from_offline and/or tags them
%% <offline/>), and MAM query results (typeless messages wrapping <result/>).
-spec routed_by_server(message()) -> boolean().
routed_by_server(Msg) ->
    xmpp:get_meta(Msg, carbon_copy, false) == true
        orelse xmpp:get_meta(Msg, from_offline, false) == true
        orelse lists:any(fun is_server_wrapper/1, Msg#message.sub_els).

is_server_wrapper(El) ->
    try {xmpp:get_name(El), xmpp:get_ns(El)} of
        {<<"received">>, <<"urn:xmpp:carbons:", _/binary>>} -> true;
        {<<"sent">>, <<"urn:xmpp:carbons:", _/binary>>} -> true;
        {<<"offline">>, ?NS_FLEX_OFFLINE} -> true;
        {<<"result">>, <<"urn:xmpp:mam:", _/binary>>} -> true;
        _ -> false
    catch _:_ -> false
    end.

%% Not for a chat archive: the sender asked (XEP-0334 §4), or it is the user's own server relaying
%% their own traffic (carbons, XEP-0280; archive results, XEP-0313), which is copied where it
%% happens; nor anything to or from the component.
-spec chat_copyable(message(), binary()) -> boolean().
chat_copyable(#message{from = From, to = To} = Msg, Component) ->
    not has_child(Msg, [{<<"no-store">>, ?XMD_NS_HINTS}, {<<"no-permanent-store">>, ?XMD_NS_HINTS},
                        {<<"sent">>, ?XMD_NS_CARBONS}, {<<"received">>, ?XMD_NS_CARBONS}])
        andalso not (is_record(From, jid) andalso is_record(To, jid)
                     andalso jid:remove_resource(jid:tolower(From)) == jid:remove_resource(jid:tolower(To)))
        andalso copyable(Msg, Component).

%% Anything a chat archive should keep: a body, or a retraction (XEP-0424, current and 0.x forms);
%% and, for what the user sends, a receipt (XEP-0184) or marker (XEP-0333), which flag the
%% original. Chat states alone (typing notifications) are never copied.
-spec worth_archiving(message(), boolean()) -> boolean().
worth_archiving(#message{body = [_ | _]}, _Sent) ->
    true;
worth_archiving(Msg, Sent) ->
    has_child(Msg, [{<<"retract">>, <<"urn:xmpp:message-retract:1">>}, {<<"apply-to">>, <<"urn:xmpp:fasten:0">>}])
        orelse (Sent andalso has_child(Msg, [{<<"received">>, ?XMD_NS_RECEIPTS}, {<<"displayed">>, ?XMD_NS_MARKERS},
                                             {<<"acknowledged">>, ?XMD_NS_MARKERS}, {<<"received">>, ?XMD_NS_MARKERS}])).

has_child(#message{sub_els = Els}, Wanted) ->
    lists:any(fun(El) ->
                      try lists:member({xmpp:get_name(El), xmpp:get_ns(El)}, Wanted)
                      catch _:_ -> false
                      end
              end, Els).

%% The check ejabberd_c2s makes right after user_send_packet (mod_privacy, mod_blocking).
privacy_allows(Host, State, Msg) ->
    ejabberd_hooks:run_fold(privacy_check_packet, Host, allow, [State, Msg, out]) == allow.

%% One copy per room message and user: a user with two joined resources receives each message
%% twice. Remembered by user, room nick, the message's ids and body; the last GROUPCHAT_MEMORY.
%% ETS, because the hook runs in each room's process.
first_groupchat_delivery(Host, #message{from = From, to = To, id = Id, body = Body} = Msg) ->
    {Keys, Order} = groupchat_tables(Host),
    Key = {jid:remove_resource(jid:tolower(To)), jid:tolower(From), Id, stanza_id(Msg), xmpp:get_text(Body)},
    N = erlang:unique_integer([monotonic]),
    case ets:insert_new(Keys, {Key, N}) of
        false ->
            false;
        true ->
            ets:insert(Order, {N, Key}),
            trim_groupchat_memory(Keys, Order),
            true
    end.

trim_groupchat_memory(Keys, Order) ->
    case ets:info(Order, size) > ?GROUPCHAT_MEMORY of
        true ->
            case ets:first(Order) of
                '$end_of_table' -> ok;
                Oldest ->
                    [ets:delete(Keys, K) || {_, K} <- ets:take(Order, Oldest)],
                    trim_groupchat_memory(Keys, Order)
            end;
        false ->
            ok
    end.

stanza_id(#message{sub_els = Els}) ->
    case [El || El <- Els, element_is(El, <<"stanza-id">>, ?XMD_NS_SID)] of
        [#xmlel{} = El | _] -> fxml:get_tag_attr_s(<<"id">>, El);
        [#stanza_id{id = SId} | _] -> SId;
        _ -> <<>>
    end.

element_is(El, Name, NS) ->
    try {xmpp:get_name(El), xmpp:get_ns(El)} == {Name, NS}
    catch _:_ -> false
    end.

groupchat_tables(Host) ->
    {gen_mod:get_module_proc(Host, mod_xmpp_maildir_groupchat_keys),
     gen_mod:get_module_proc(Host, mod_xmpp_maildir_groupchat_order)}.

%% The delivery rule of ejabberd_sm:do_route/1 and route_message/1 (23.01).
-spec online(jid()) -> boolean().
online(#jid{luser = U, lserver = S, lresource = <<>>}) ->
    max_priority(U, S) >= 0;
online(#jid{luser = U, lserver = S, lresource = R}) ->
    ejabberd_sm:get_session_pid(U, S, R) /= none orelse max_priority(U, S) >= 0.

max_priority(U, S) ->
    case ejabberd_sm:get_user_present_resources(U, S) of
        [] -> -1;
        Resources -> element(1, lists:max(Resources))
    end.

-spec send_copy(binary(), message(), binary()) -> ok.
send_copy(Host, Msg, Reason) ->
    Id = <<?ID_PREFIX, (p1_rand:get_alphanum_string(?ID_RANDOM_CHARS))/binary>>,
    %% Orders copies across restarts (the clock) and within one (the counter); a single sender's
    %% messages pass this hook one after another in its own process, so they keep their order.
    Seq = {erlang:system_time(microsecond), erlang:unique_integer([monotonic, positive])},
    %% xmpp:encode/1 states xmlns='jabber:client', as XEP-0297 asks of the forwarded stanza, and
    %% drops ejabberd's internal meta data.
    Stamp = list_to_binary(calendar:system_time_to_rfc3339(erlang:system_time(second), [{offset, "Z"}])),
    Copy = #xmlel{name = <<"copy">>,
                  attrs = [{<<"xmlns">>, ?NS_COPY}, {<<"reason">>, Reason}],
                  children = [#xmlel{name = <<"forwarded">>,
                                     attrs = [{<<"xmlns">>, ?NS_FORWARD}],
                                     children = [#xmlel{name = <<"delay">>,
                                                        attrs = [{<<"xmlns">>, ?NS_DELAY},
                                                                 {<<"stamp">>, Stamp}]},
                                                 xmpp:encode(Msg)]}]},
    %% Durable before it is sent: if ejabberd stops now, the copy is sent after the restart.
    case store(Host, #xmpp_maildir_outbox{id = Id, host = Host, seq = Seq, copy = Copy}) of
        ok ->
            ok;
        {error, Why} ->
            ?ERROR_MSG("Could not store copy of message ~ts to ~ts in the outbox (~p); sending it unprotected",
                       [Msg#message.id, jid:encode(Msg#message.to), Why])
    end,
    gen_server:cast(proc(Host), {copy, Id, Seq, Copy}).

%%%===================================================================
%%% The outbox: Mnesia
%%%===================================================================
create_table() ->
    case ejabberd_mnesia:create(?MODULE, ?TABLE,
                                [{disc_copies, [node()]},
                                 {attributes, record_info(fields, xmpp_maildir_outbox)},
                                 {index, [host]}]) of
        {atomic, _} -> wait_for_table();
        ok -> wait_for_table();
        Err -> {error, Err}
    end.

wait_for_table() ->
    case mnesia:wait_for_tables([?TABLE], ?TABLE_WAIT_MS) of
        ok -> ok;
        Err -> {error, Err}
    end.

%% mnesia:sync_transaction/1 returns once the commit is handed to Mnesia's transaction log, but
%% the log process may still hold it: a test that SIGKILLs ejabberd lost 17 of 300 copies that way.
%% mnesia:sync_log/0 writes and fsyncs the log, so the copy survives a crash of ejabberd (and of
%% the machine) from then on.
store(Host, Rec) ->
    case mnesia:sync_transaction(fun() -> mnesia:write(Rec) end) of
        {atomic, ok} -> sync_log(Host);
        {aborted, Why} -> {error, Why}
    end.

%% Group commit. One mnesia:sync_log/0 covers every record written before it started, so the
%% syncer takes all the requests waiting in its mailbox, syncs once, and answers them all; those
%% that arrive meanwhile share the next sync. One fsync per copy would cap the whole server at one
%% copy per fsync (about 80 a second on the test machine), whatever the number of senders.
syncer_name(Host) ->
    gen_mod:get_module_proc(Host, mod_xmpp_maildir_syncer).

start_syncer(Host) ->
    Pid = proc_lib:spawn_link(fun syncer_loop/0),
    register(syncer_name(Host), Pid),
    ok.

syncer_loop() ->
    receive
        {sync, _, _} = First ->
            Waiting = [First | waiting_syncs()],
            Result = mnesia:sync_log(),
            lists:foreach(fun({sync, Pid, Ref}) -> Pid ! {Ref, Result} end, Waiting),
            syncer_loop()
    end.

waiting_syncs() ->
    receive
        {sync, _, _} = Next -> [Next | waiting_syncs()]
    after 0 ->
        []
    end.

sync_log(Host) ->
    case whereis(syncer_name(Host)) of
        undefined ->
            mnesia:sync_log();
        Syncer ->
            Ref = erlang:monitor(process, Syncer),
            Syncer ! {sync, self(), Ref},
            receive
                {Ref, Result} ->
                    erlang:demonitor(Ref, [flush]),
                    Result;
                {'DOWN', Ref, process, _, Why} ->
                    {error, {syncer_down, Why}}
            after ?SYNC_TIMEOUT_MS ->
                    erlang:demonitor(Ref, [flush]),
                    {error, sync_timeout}
            end
    end.

%% Losing a delete only means the copy is sent once more after a restart, which the component
%% confirms without storing it again.
forget(Id) ->
    mnesia:dirty_delete(?TABLE, Id).

load_outbox(#state{host = Host} = State) ->
    Stored = mnesia:dirty_index_read(?TABLE, Host, #xmpp_maildir_outbox.host),
    State1 = lists:foldl(
               fun(#xmpp_maildir_outbox{id = Id, seq = Seq, copy = Copy}, Acc) ->
                       enqueue(Id, Seq, Copy, Acc)
               end, State, Stored),
    case length(Stored) of
        0 -> ok;
        N -> ?INFO_MSG("Re-sending ~B unconfirmed copies to ~ts", [N, State#state.component])
    end,
    State1.

%%%===================================================================
%%% Window, confirmations, retries
%%%===================================================================
enqueue(Id, Seq, Copy, #state{pending = Pending, queue = Queue} = State) ->
    State#state{pending = Pending#{Id => {Seq, Copy}}, queue = gb_sets:add({Seq, Id}, Queue)}.

pump(#state{paused = true} = State) ->
    State;
pump(#state{inflight = Inflight, window = Window} = State) when map_size(Inflight) >= Window ->
    State;
pump(#state{queue = Queue, component = Component} = State) ->
    case gb_sets:is_empty(Queue) of
        true ->
            State;
        false ->
            %% Without a route to the component, ejabberd would try it over s2s; wait for
            %% component_connected (or the backoff) instead.
            case ejabberd_router:is_my_route(Component) of
                true ->
                    {{_Seq, Id}, Rest} = gb_sets:take_smallest(Queue),
                    pump(send_one(Id, State#state{queue = Rest}));
                false ->
                    pause_and_retry("component not connected", State)
            end
    end.

send_one(Id, #state{pending = Pending, inflight = Inflight, host = Host, component = Component,
                    confirm_timeout = Timeout} = State) ->
    case {maps:find(Id, Pending), maps:is_key(Id, Inflight)} of
        {{ok, {_Seq, Copy}}, false} ->
            Timer = erlang:start_timer(Timeout, self(), {confirm, Id}),
            ejabberd_router:route(#iq{type = set, id = Id, from = jid:make(Host),
                                      to = jid:make(Component), sub_els = [Copy]}),
            State#state{inflight = Inflight#{Id => Timer}};
        _ ->
            State
    end.

handle_reply(Id, result, #state{retry_min = Min} = State) ->
    pump((done(Id, State))#state{retry_delay = Min});
handle_reply(Id, {error, wait, Condition, Text}, State) ->
    %% Disk full, over quota, shutting down: keep the copy and try again later.
    pause_and_retry(io_lib:format("~p: ~ts", [Condition, Text]), requeue([Id], State));
handle_reply(Id, {error, Type, Condition, Text}, State) ->
    case lists:member(Condition, ?REFUSALS) of
        true ->
            %% A permanent refusal: resending cannot help. The message itself was delivered or
            %% stored offline as usual; only the archive copy is given up.
            ?ERROR_MSG("Component refused copy ~ts (~p/~p: ~ts); removing it from the outbox",
                       [Id, Type, Condition, Text]),
            pump(done(Id, State));
        false ->
            pause_and_retry(io_lib:format("~p/~p: ~ts", [Type, Condition, Text]), requeue([Id], State))
    end.

done(Id, #state{pending = Pending, inflight = Inflight} = State) ->
    case maps:find(Id, Inflight) of
        {ok, Timer} -> erlang:cancel_timer(Timer);
        error -> ok
    end,
    forget(Id),
    State#state{pending = maps:remove(Id, Pending), inflight = maps:remove(Id, Inflight)}.

%% Sending stops until the backoff timer fires or the component connects. Unlike the Prosody
%% module, copies still in flight are not all taken back: each is answered on its own (result,
%% `wait`, refusal) or times out, and only then goes back to the queue (which keeps seq order).
%% With one connection this ends the same way; with several (ejabberd spreads stanzas over them)
%% taking back a copy that another instance is still storing would have it stored twice, once
%% by each (seen in the rolling-restart test).
pause_and_retry(_Why, #state{paused = true} = State) ->
    State;
pause_and_retry(Why, #state{retry_delay = Delay, retry_max = Max, component = Component} = State) ->
    ?INFO_MSG("Pausing copies to ~ts (~ts); ~B waiting, retrying in ~Bs",
              [Component, Why, gb_sets:size(State#state.queue), Delay div 1000]),
    Timer = erlang:start_timer(Delay, self(), retry),
    State#state{paused = true, retry_timer = Timer, retry_delay = min(Delay * 2, Max)}.

%% With several connections for one component domain (ejabberd spreads stanzas over them), one
%% connecting says nothing about copies in flight on the others: keep those, and only wake up a
%% paused outbox.
resume(Why, #state{paused = true, retry_timer = Timer, retry_min = Min} = State0) ->
    cancel(Timer),
    State = State0#state{paused = false, retry_timer = undefined, retry_delay = Min},
    ?DEBUG("Resuming copies to ~ts (~ts); ~B waiting",
           [State#state.component, Why, gb_sets:size(State#state.queue)]),
    pump(State);
resume(_Why, State) ->
    pump(State).

%% Copies in flight go back into the queue, to be sent again.
requeue(Ids, #state{inflight = Inflight, pending = Pending, queue = Queue} = State) ->
    {Inflight1, Queue1} = lists:foldl(
                            fun(Id, {InAcc, QAcc}) ->
                                    case maps:take(Id, InAcc) of
                                        {Timer, InAcc1} ->
                                            erlang:cancel_timer(Timer),
                                            case maps:find(Id, Pending) of
                                                {ok, {Seq, _}} -> {InAcc1, gb_sets:add({Seq, Id}, QAcc)};
                                                error -> {InAcc1, QAcc}
                                            end;
                                        error ->
                                            {InAcc, QAcc}
                                    end
                            end, {Inflight, Queue}, Ids),
    State#state{inflight = Inflight1, queue = Queue1}.

cancel(undefined) -> ok;
cancel(Timer) -> erlang:cancel_timer(Timer), ok.

%%%===================================================================
%%% Helpers
%%%===================================================================
proc(Host) ->
    gen_mod:get_module_proc(Host, ?MODULE).

component(Host) ->
    jid:nameprep(gen_mod:get_module_opt(Host, ?MODULE, component)).

opt(Host, Name) ->
    gen_mod:get_module_opt(Host, ?MODULE, Name).

apply_opts(State, Opts) ->
    State#state{component = jid:nameprep(gen_mod:get_opt(component, Opts)),
                window = gen_mod:get_opt(window, Opts),
                confirm_timeout = gen_mod:get_opt(confirm_timeout, Opts),
                retry_min = gen_mod:get_opt(retry_min, Opts),
                retry_max = gen_mod:get_opt(retry_max, Opts)}.

reply(#iq{type = result}) ->
    result;
reply(#iq{type = error} = IQ) ->
    try xmpp:get_error(IQ) of
        #stanza_error{type = Type, reason = Reason, text = Text} ->
            {error, Type, Reason, xmpp:get_text(Text)};
        _ ->
            {error, cancel, undefined, <<"error without a condition">>}
    catch _:_ ->
            {error, cancel, undefined, <<"malformed error">>}
    end.

notify_hosts(Domain, Event) ->
    LDomain = jid:nameprep(Domain),
    lists:foreach(
      fun(Host) ->
              case gen_mod:is_loaded(Host, ?MODULE) andalso component(Host) == LDomain of
                  true -> gen_server:cast(proc(Host), Event);
                  false -> ok
              end
      end, ejabberd_option:hosts()).

add_hooks(Host) ->
    ejabberd_hooks:add(offline_message_hook, Host, ?MODULE, offline_message, ?OFFLINE_HOOK_PRIORITY),
    ejabberd_hooks:add(sm_receive_packet, Host, ?MODULE, sm_receive_packet, ?SM_HOOK_PRIORITY),
    ejabberd_hooks:add(user_send_packet, Host, ?MODULE, user_send_packet, ?SEND_HOOK_PRIORITY),
    %% Global hooks are added once, whatever the number of hosts (ejabberd_hooks skips repeats).
    ejabberd_hooks:add(filter_packet, ?MODULE, filter_packet, ?GLOBAL_HOOK_PRIORITY),
    ejabberd_hooks:add(component_connected, ?MODULE, component_connected, ?GLOBAL_HOOK_PRIORITY),
    ejabberd_hooks:add(component_disconnected, ?MODULE, component_disconnected, ?GLOBAL_HOOK_PRIORITY).

remove_hooks(Host) ->
    ejabberd_hooks:delete(offline_message_hook, Host, ?MODULE, offline_message, ?OFFLINE_HOOK_PRIORITY),
    ejabberd_hooks:delete(sm_receive_packet, Host, ?MODULE, sm_receive_packet, ?SM_HOOK_PRIORITY),
    ejabberd_hooks:delete(user_send_packet, Host, ?MODULE, user_send_packet, ?SEND_HOOK_PRIORITY),
    case gen_mod:is_loaded_elsewhere(Host, ?MODULE) of
        true ->
            ok;
        false ->
            ejabberd_hooks:delete(filter_packet, ?MODULE, filter_packet, ?GLOBAL_HOOK_PRIORITY),
            ejabberd_hooks:delete(component_connected, ?MODULE, component_connected, ?GLOBAL_HOOK_PRIORITY),
            ejabberd_hooks:delete(component_disconnected, ?MODULE, component_disconnected, ?GLOBAL_HOOK_PRIORITY)
    end.
