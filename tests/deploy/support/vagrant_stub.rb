# Evaluates a Vagrantfile with a stand-in for Vagrant's configuration DSL and prints what
# it configured as JSON: the machines, their networks and the Ansible provisioner. The
# real Vagrant (and a hypervisor) cannot run on the test machine; this checks that the file
# is valid Ruby and configures what docs/deployment.md promises.
require "json"

class Recorder
  def initialize(store) = @store = store
  def method_missing(name, *args, **kwargs, &block)
    key = name.to_s.delete_suffix("=")
    if name.to_s.end_with?("=")
      @store[key] = args.first
      return args.first
    end
    if args.empty? && kwargs.empty? && block.nil?
      return Recorder.new(@store[key] ||= {}) # an attribute namespace such as `config.vm`
    end
    child = {}
    (@store[key] ||= []) << { "args" => args, "kwargs" => kwargs, "body" => child }
    block&.call(Recorder.new(child))
    Recorder.new(child)
  end
  def respond_to_missing?(*) = true
end

module Vagrant
  RESULT = {}
  def self.configure(_version, &block) = block.call(Recorder.new(RESULT))
end

load ARGV.fetch(0)
puts JSON.generate(Vagrant::RESULT)
