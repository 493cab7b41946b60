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
%%%     retractions and reactions without a body, which flag or annotate the archived original.
%%% With `groupchat: true` (component --groupchat):
%%%   * every groupchat message a room delivers to a local occupant, once per user however many
%%%     resources are joined, reason "groupchat" (the echo of the user's own message marked own="true").
%%%     Retractions without a body are copied too, among them a moderator's (XEP-0425).
%%% Never copied: headlines, errors, anything to or from the component (no loops); what ejabberd
%%% routes to a user on its own behalf (carbons, mod_offline's redelivery at login, MAM query
%%% results), which Prosody hands to the session without routing; and chat-history copies of
%%% messages that ask not to be stored (XEP-0334 <no-store/>, <no-permanent-store/>).
%%% Nothing here changes delivery: mod_offline still stores, and online users still receive.
%%%
%%% Delivery to the component is at-least-once, through a durable outbox: see
%%% mod_xmpp_maildir_outbox.erl. This module decides what is copied and builds the copies; its
%%% process for each host keeps the outbox and the group chat memory.
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

%% XEP-0424 retractions (current and 0.x forms), for which xmpp.hrl (1.6) has neither a record
%% nor a namespace macro. Prefixed: a later xmpp.hrl that defines them cannot clash with ours.
-define(XMD_NS_RETRACT_1, <<"urn:xmpp:message-retract:1">>).
-define(XMD_NS_REACTIONS_0, <<"urn:xmpp:reactions:0">>).
-define(XMD_NS_FASTEN_0, <<"urn:xmpp:fasten:0">>).
%% The MAM namespaces whose <result/> mod_mam (23.01) may wrap a message in, by what the client asked.
-define(MAM_NAMESPACES, [?NS_MAM_TMP, ?NS_MAM_0, ?NS_MAM_1, ?NS_MAM_2]).

-record(state, {host :: binary(),
                outbox :: mod_xmpp_maildir_outbox:outbox()}).

%%%===================================================================
%%% gen_mod
%%%===================================================================
%% Hooks are added here and removed in stop/1, as ejabberd 23.01's own modules do (its gen_mod
%% cannot yet take them from start/2's return value), once the host's process is up: they hand
%% it copies and answers.
start(Host, Opts) ->
    case mod_xmpp_maildir_outbox:create_table() of
        ok ->
            case gen_mod:start_child(?MODULE, Host, Opts) of
                {ok, _Pid} = Started ->
                    add_hooks(Host),
                    Started;
                NotStarted ->
                    NotStarted
            end;
        {error, _} = Err ->
            Err
    end.

stop(Host) ->
    remove_hooks(Host),
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
    #{desc => [<<"Copies offline and normal messages to the xmpp-maildir component, with a "
                 "durable outbox and ordered resends. Copies go in batches (urn:xmpp-maildir:copy:1, "
                 "several per IQ) once the component lists that feature in disco#info, otherwise "
                 "one per IQ (urn:xmpp-maildir:copy:0); see docs/protocol.md.">>],
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
    %% full JID; this is the copy for this (local) occupant, once per user. Besides messages with a
    %% body, the room's retractions: a moderator's (XEP-0425, from the room's bare JID) or the author's.
    case opt(Host, groupchat) andalso R /= <<>> andalso worth_archiving(Msg, false)
        andalso ejabberd_sm:get_session_pid(U, S, R) /= none
        andalso chat_copyable(Msg, Component) andalso first_groupchat_delivery(Host, Msg) of
        true -> send_copy(Host, Msg, <<"groupchat">>, own_groupchat(Host, Msg));
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
user_send_packet({#message{type = groupchat, to = #jid{} = To, from = #jid{lserver = Host} = From} = Msg, _State} = Acc) ->
    case opt(Host, groupchat) of
        true -> remember_own_groupchat(Host, From, To, Msg);
        false -> ok
    end,
    Acc;
user_send_packet(Acc) ->
    Acc.

%% XEP-0045 §7.4: a room reflects a user's own message back to them like any other. What a local
%% user sends to a room is remembered briefly (in the groupchat tables, trimmed with them), so the
%% copy of its reflection can say it is the user's own (own='true': docs/protocol.md).
own_groupchat_key(User, Room, #message{id = Id, body = Body}) ->
    {own, jid:remove_resource(jid:tolower(User)), jid:remove_resource(jid:tolower(Room)), Id, xmpp:get_text(Body)}.

remember_own_groupchat(Host, From, To, Msg) ->
    {Keys, Order} = groupchat_tables(Host),
    Key = own_groupchat_key(From, To, Msg),
    N = erlang:unique_integer([monotonic]),
    ets:insert(Keys, {Key, N}),
    ets:insert(Order, {N, Key}),
    trim_groupchat_memory(Keys, Order).

own_groupchat(Host, #message{from = From, to = To} = Msg) ->
    {Keys, _Order} = groupchat_tables(Host),
    ets:member(Keys, own_groupchat_key(To, From, Msg)).

%% The component's answers to our copies. ejabberd_local drops IQ results and errors addressed to
%% the server itself, so we take ours out of the router first (filter_packet is global).
-spec filter_packet(stanza() | drop) -> stanza() | drop.
filter_packet(#iq{type = Type, id = <<?ID_PREFIX, _/binary>> = Id,
                  from = #jid{luser = <<>>, lresource = <<>>, lserver = From},
                  to = #jid{luser = <<>>, lserver = Host}} = IQ)
  when Type == result; Type == error ->
    case gen_mod:is_loaded(Host, ?MODULE) andalso component(Host) == From of
        true ->
            gen_server:cast(proc(Host), {reply, Id, mod_xmpp_maildir_outbox:answer(IQ)}),
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
    Outbox = mod_xmpp_maildir_outbox:open(Host, Opts),
    {Keys, Order} = groupchat_tables(Host),
    ets:new(Keys, [named_table, public, set]),
    ets:new(Order, [named_table, public, ordered_set]),
    erlang:send_after(?FIRST_PUMP_MS, self(), pump),
    ?INFO_MSG("Copying offline and normal messages~ts~ts to ~ts",
              [case opt(Host, chat_history) of true -> ", chats (received and sent)"; false -> "" end,
               case opt(Host, groupchat) of true -> ", group chat"; false -> "" end,
               component(Host)]),
    {ok, #state{host = Host, outbox = Outbox}}.

handle_call(_Request, _From, State) ->
    {reply, {error, badarg}, State}.

handle_cast({copy, Id, Seq, Copy}, #state{outbox = Outbox} = State) ->
    {noreply, State#state{outbox = mod_xmpp_maildir_outbox:add(Id, Seq, Copy, Outbox)}};
handle_cast({reply, Id, Answer}, #state{outbox = Outbox} = State) ->
    {noreply, State#state{outbox = mod_xmpp_maildir_outbox:reply(Id, Answer, Outbox)}};
handle_cast(component_connected, #state{outbox = Outbox} = State) ->
    {noreply, State#state{outbox = mod_xmpp_maildir_outbox:component_connected(Outbox)}};
handle_cast(component_disconnected, #state{outbox = Outbox} = State) ->
    {noreply, State#state{outbox = mod_xmpp_maildir_outbox:component_disconnected(Outbox)}};
handle_cast({reload, Opts}, #state{outbox = Outbox} = State) ->
    {noreply, State#state{outbox = mod_xmpp_maildir_outbox:reconfigure(Opts, Outbox)}};
handle_cast(Msg, State) ->
    ?WARNING_MSG("Unexpected cast: ~p", [Msg]),
    {noreply, State}.

%% The outbox's timers, its first pump and its writer's exit.
handle_info(Info, #state{outbox = Outbox} = State) ->
    case mod_xmpp_maildir_outbox:handle_info(Info, Outbox) of
        {ok, Outbox1} ->
            {noreply, State#state{outbox = Outbox1}};
        unknown ->
            ?WARNING_MSG("Unexpected info: ~p", [Info]),
            {noreply, State}
    end.

%% Unconfirmed copies stay in the table and are sent again when the module starts.
terminate(_Reason, #state{outbox = Outbox}) ->
    mod_xmpp_maildir_outbox:close(Outbox).

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
%% was (or was not) archived when it first arrived: carbons (mod_carboncopy routes them, XEP-0280
%% urn:xmpp:carbons:2 only), stored messages re-sent at login or by XEP-0013 (mod_offline marks
%% them from_offline and/or tags them <offline/>), and MAM query results (typeless messages
%% wrapping <result/>, in whichever MAM namespace the query used).
-spec routed_by_server(message()) -> boolean().
routed_by_server(Msg) ->
    xmpp:get_meta(Msg, carbon_copy, false) == true
        orelse xmpp:get_meta(Msg, from_offline, false) == true
        orelse has_any(Msg, [#carbons_received{}, #carbons_sent{}, #offline{}
                             | [#mam_result{xmlns = NS} || NS <- ?MAM_NAMESPACES]]).

%% Not for a chat archive: the sender asked (XEP-0334 §4), or it is the user's own server relaying
%% their own traffic (carbons, XEP-0280; archive results, XEP-0313), which is copied where it
%% happens; nor anything to or from the component.
-spec chat_copyable(message(), binary()) -> boolean().
chat_copyable(#message{from = From, to = To} = Msg, Component) ->
    not has_any(Msg, [#hint{type = 'no-store'}, #hint{type = 'no-permanent-store'},
                      #carbons_sent{}, #carbons_received{}])
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
    has_element(Msg, <<"retract">>, ?XMD_NS_RETRACT_1) orelse has_element(Msg, <<"apply-to">>, ?XMD_NS_FASTEN_0)
        %% XEP-0444: a reaction has no body; the component files it with its original.
        orelse has_element(Msg, <<"reactions">>, ?XMD_NS_REACTIONS_0)
        orelse (Sent andalso has_any(Msg, [#receipt_response{}, #mark_displayed{},
                                           #mark_acknowledged{}, #mark_received{}])).

-spec has_any(message(), [xmpp_element()]) -> boolean().
has_any(Msg, Tags) ->
    lists:any(fun(Tag) -> xmpp:has_subtag(Msg, Tag) end, Tags).

%% xmpp:has_subtag/2 for an element xmpp.hrl has no record of. Every sub-element is a decoded
%% record or an #xmlel{}, and xmpp:get_name/1 and get_ns/1 take both.
-spec has_element(message(), binary(), binary()) -> boolean().
has_element(Msg, Name, NS) ->
    lists:any(fun(El) -> xmpp:get_name(El) == Name andalso xmpp:get_ns(El) == NS end, xmpp:get_els(Msg)).

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

%% XEP-0359: the first valid <stanza-id/>, decoded if it is not yet (one without `by` is skipped).
stanza_id(Msg) ->
    case xmpp:get_subtag(Msg, #stanza_id{}) of
        #stanza_id{id = SId} -> SId;
        false -> <<>>
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
    send_copy(Host, Msg, Reason, false).

-spec send_copy(binary(), message(), binary(), boolean()) -> ok.
send_copy(Host, Msg, Reason, Own) ->
    Id = <<?ID_PREFIX, (p1_rand:get_alphanum_string(?ID_RANDOM_CHARS))/binary>>,
    %% XEP-0297 with a XEP-0203 delay: when the server received the message, in whole seconds.
    %% Encoding the #forwarded{} states xmlns='jabber:client' on the message, as XEP-0297 asks of
    %% the forwarded stanza, and drops ejabberd's internal meta data. The <copy/> is ours, with no
    %% record in xmpp.hrl; the outbox keeps it as an #xmlel{}.
    Now = erlang:system_time(second),
    Forwarded = #forwarded{delay = #delay{stamp = {Now div 1000000, Now rem 1000000, 0}},
                           sub_els = [Msg]},
    Copy = #xmlel{name = <<"copy">>,
                  attrs = [{<<"xmlns">>, ?NS_COPY}, {<<"reason">>, Reason}] ++ [{<<"own">>, <<"true">>} || Own],
                  children = [xmpp:encode(Forwarded)]},
    %% Durable before it is sent: if ejabberd stops now, the copy is sent after the restart.
    case mod_xmpp_maildir_outbox:write(Host, Id, Copy) of
        {Seq, ok} ->
            ok;
        {Seq, {error, Why}} ->
            ?ERROR_MSG("Could not store copy of message ~ts to ~ts in the outbox (~p); sending it unprotected",
                       [Msg#message.id, jid:encode(Msg#message.to), Why])
    end,
    gen_server:cast(proc(Host), {copy, Id, Seq, Copy}).

%%%===================================================================
%%% Helpers
%%%===================================================================
proc(Host) ->
    gen_mod:get_module_proc(Host, ?MODULE).

component(Host) ->
    jid:nameprep(gen_mod:get_module_opt(Host, ?MODULE, component)).

opt(Host, Name) ->
    gen_mod:get_module_opt(Host, ?MODULE, Name).

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
